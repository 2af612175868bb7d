// What a new user reads on the dashboard in the first hour (issue 9): labelled header badges, a rate chart with
// history and a time axis, one vocabulary for rejected/skipped/invalid, and the source's connection state. Against
// the real /api/live and dashboard routes fed fixtures (fixtures.ts).
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { FirehoseStatus, HistoryPoint } from '../../server/api/live.js'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { startServer } from '../support/backfill.js'
import { progressFixture, startFakeServer, statsFixture, type FakeServer } from './fixtures.js'
import { FIREHOSE_OFF } from '../../server/services/firehose-status.js'
import { launchBrowser, openDashboard } from './page.js'
import { openSse } from './sse.js'

let browser: Browser
let fake: FakeServer
/** What the fake server's history holds for a newcomer (the real one keeps it in RateHistory). */
let history: HistoryPoint[] = []

beforeAll(async () => {
  await ensureClientBuilt({ log: () => {} })
  browser = await launchBrowser()
  fake = await startFakeServer({ live: { history: () => history } })
})

afterAll(async () => {
  await fake?.stop()
  await browser?.close()
})

beforeEach(() => {
  fake.progress = progressFixture()
  fake.firehose = FIREHOSE_OFF
  fake.stats = statsFixture()
  history = []
})

describe('the dashboard header', () => {
  it('labels each badge with what it is about: the backfill, the firehose, and this page’s own stream', async () => {
    fake.firehose = { state: 'live', cursor: 12, received: 3, processed: 3, eventsPerSecond: 1.5, error: null, holder: null }
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.waitFor((s) => s.connection === 'live' && s.firehoseState === 'live')
      const badges = await dash.page.$$eval('.topbar .badge-group', (groups) =>
        groups.map((g) => [g.querySelector('.badge-label')?.textContent?.trim(), g.querySelector('.badge')?.textContent?.trim(), g.getAttribute('title')]),
      )
      expect(badges).toEqual([
        ['Backfill', 'running', expect.stringMatching(/backfill/i)],
        ['Firehose', 'live', expect.stringMatching(/firehose/i)],
        ['This page', 'live', expect.stringMatching(/not the firehose/)],
      ])
    } finally {
      await dash.close()
    }
  })
})

describe('the events/s chart', () => {
  it('starts from the server’s history when opened late, and labels its time axis with clock times', async () => {
    const now = Date.now()
    // Five minutes of a backfill at ~800 evt/s, one point a second, up to the page opening.
    history = Array.from({ length: 300 }, (_, i) => ({ at: now - (300 - i) * 1000, backfill: 800 + (i % 7), firehose: 0, repos: 0 }))
    const dash = await openDashboard(fake.url, { browser })
    try {
      const s = await dash.waitFor((x) => x.chartPoints >= 300)
      expect(s.chartPoints).toBeGreaterThanOrEqual(300)
      const ticks = await dash.page.$$eval('[data-field="chart-axis"] .axis-tick', (els) =>
        els.map((e) => ({ text: e.textContent, at: Number((e as HTMLElement).dataset.at), left: parseFloat((e as HTMLElement).style.left) })),
      )
      // A tick every two minutes across the ten shown, each at its clock time and in order.
      expect(ticks.length).toBeGreaterThanOrEqual(4)
      for (const t of ticks) {
        expect(t.text).toMatch(/^\d\d:\d\d$/)
        expect(t.at % 120_000).toBe(0)
      }
      expect(ticks.map((t) => t.left)).toEqual([...ticks.map((t) => t.left)].sort((a, b) => a - b))
    } finally {
      await dash.close()
    }
  })

  it('a real server keeps the rate history with no page watching, for the first page to connect', async () => {
    const run = await startServer()
    try {
      await new Promise((r) => setTimeout(r, 3500))
      const sse = await openSse(`${run.sky.url}/api/live`)
      try {
        const message = await sse.next((m) => m.event === 'history')
        const points = (JSON.parse(message.data!) as { points: HistoryPoint[] }).points
        expect(points.length).toBeGreaterThanOrEqual(3)
        expect(points[0]).toEqual({ at: expect.any(Number), backfill: 0, firehose: 0, repos: 0 })
        expect(points.every((p, i) => i === 0 || p.at > points[i - 1]!.at)).toBe(true)
      } finally {
        sse.close()
      }
    } finally {
      await run.close()
    }
  })
})

describe('the counts', () => {
  it('use the log’s words (written, skipped, rejected), each explained on hover, with writes vs stored in a caption', async () => {
    fake.stats = {
      ...statsFixture(),
      rejects: { count: 53, exact: true, byCategory: [{ category: 'unsupported', count: 50 }, { category: 'record', count: 3 }] },
    }
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.waitFor((s) => s.stats.length > 0)
      const events = await dash.page.$$eval('#h-counts ~ dl.counts > div', (divs) =>
        divs.map((d) => [d.querySelector('dt')?.textContent, d.getAttribute('title') ?? ''] as const),
      )
      expect(events.map(([label]) => label)).toEqual(['Received', 'Written', 'Skipped', 'Rejected'])
      for (const [label, title] of events) expect(title.length, `hover text of ${label}`).toBeGreaterThan(20)
      expect(events[1]![1]).toContain('events written')
      expect(await dash.text('counts-caption')).toMatch(/Record writes count every create and update.*stored now/s)
      // The records card splits the rejects table in the same words.
      expect(await dash.text('stats-rejects')).toBe('50 skipped, 3 rejected')
    } finally {
      await dash.close()
    }
  })

  it('the indexed records table follows the writes within a few seconds', async () => {
    const dash = await openDashboard(fake.url, { browser })
    // The backfill moves on, and the database with it.
    let processed = fake.progress.counts.processed
    const moving = setInterval(() => {
      processed += 100
      fake.progress = { ...fake.progress, counts: { ...fake.progress.counts, processed } }
    }, 250)
    try {
      await dash.waitFor((s) => s.statsTotal === 4600)
      fake.stats = statsFixture([{ collection: 'app.bsky.feed.post', count: 1638 }, { collection: 'app.bsky.feed.like', count: 3400 }])
      const changedAt = Date.now()
      await dash.waitFor((s) => s.statsTotal === 5038, 6000)
      expect(Date.now() - changedAt).toBeLessThan(6000)
    } finally {
      clearInterval(moving)
      await dash.close()
    }
  })
})

describe('the connection to the source', () => {
  it('shows in the headline that the backfill and the firehose are retrying, with the last error, until connected', async () => {
    const dns = 'getaddrinfo ENOTFOUND relay.invalid'
    const refused = 'connect ECONNREFUSED 127.0.0.1:1'
    // The contract of /api/backfill and /api/firehose for a source that never answered.
    fake.progress = { ...progressFixture({ state: 'locating', cursor: null, head: null, start: null, percent: null, error: dns }), source: { state: 'retrying', error: dns } } as BackfillProgress
    fake.firehose = { state: 'retrying', error: refused, cursor: null, received: 0, processed: 0, eventsPerSecond: 0 } as unknown as FirehoseStatus
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.waitFor((s) => s.firehoseState === 'retrying' && s.state === 'locating')
      expect(await dash.text('source-status')).toBe(`Source: retrying (last error: ${dns})`)
      expect(await dash.page.locator('[data-field="source-status"]').isVisible()).toBe(true)
      expect(await dash.text('firehose-detail')).toBe(`Firehose retrying: ${refused}`)
      expect(await dash.page.locator('[data-field="firehose-detail"]').isVisible()).toBe(true)
      // Not the green of a live connection.
      const badge = dash.page.locator('[data-field="header-firehose-state"]')
      expect(await badge.getAttribute('data-state')).toBe('retrying')
      expect(await badge.evaluate((e) => getComputedStyle(e).backgroundColor)).not.toBe(
        await dash.page.locator('[data-field="connection"]').evaluate((e) => getComputedStyle(e).backgroundColor),
      )

      // Connected: nothing left to say.
      fake.progress = { ...progressFixture(), source: { state: 'connected', error: null } } as BackfillProgress
      fake.firehose = { state: 'live', error: null, cursor: 5, received: 1, processed: 1, eventsPerSecond: 1, holder: null }
      await dash.waitFor((s) => s.firehoseState === 'live' && s.state === 'running')
      expect(await dash.page.locator('[data-field="source-status"]').isVisible()).toBe(false)
      expect(await dash.page.locator('[data-field="firehose-detail"]').isVisible()).toBe(false)
    } finally {
      await dash.close()
    }
  })

  it('shows nothing for it when the server does not report it', async () => {
    fake.progress = progressFixture({ state: 'locating', cursor: null, head: null, start: null, percent: null })
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.waitFor((s) => s.state === 'locating' && s.connection === 'live')
      expect(await dash.page.locator('[data-field="source-status"]').isVisible()).toBe(false)
      expect(await dash.page.locator('[data-field="firehose-detail"]').isVisible()).toBe(false)
    } finally {
      await dash.close()
    }
  })
})
