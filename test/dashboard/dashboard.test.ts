// The dashboard in a real browser (system Chromium via playwright-core): against a real skyfill with the backfill
// off, and against the real /api/live + dashboard routes fed BackfillProgress fixtures tick by tick.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Skyfill } from '../../server/main.js'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { startServer, type BackfillRun } from '../support/backfill.js'
import { XSS, progressFixture, startFakeServer, statsFixture, type FakeServer } from './fixtures.js'
import { PHONE, launchBrowser, openDashboard } from './page.js'

const cspErrors = (errors: string[]) => errors.filter((e) => /Content Security Policy|Refused to/i.test(e))

let browser: Browser

beforeAll(async () => {
  await ensureClientBuilt({ log: () => {} })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
})

describe('against a real server with the backfill off', () => {
  let run: BackfillRun
  let skyfill: Skyfill

  beforeAll(async () => {
    run = await startServer()
    skyfill = run.sky
  })

  afterAll(async () => {
    await run?.close()
  })

  it('shows the off state, live system metrics and the firehose off', async () => {
    const dash = await openDashboard(skyfill.url, { browser })
    try {
      const s = await dash.waitFor((x) => x.state === 'off' && x.connection === 'live')
      expect(s.stateDetail).toContain('BACKFILL_DAYS')
      expect(s.percent).toBeNull()
      expect(s.counts).toEqual({ received: 0, processed: 0, skipped: 0, invalid: 0 })
      expect(s.window.note).toContain('No backfill window')
      expect(s.firehoseState).toBe('off')
      expect(s.cpuPercent).not.toBeNull()
      expect(s.memory.rssMb).toBeGreaterThan(0)
      expect(s.db.limit).toBeGreaterThan(0)
      // Record counts: from /api/stats when the server has it, else a plain note (not an error).
      const stats = await dash.waitFor((x) => x.stats.length > 0 || (x.statsNote !== null && x.statsNote !== 'Loading…'))
      if (stats.stats.length === 0) expect(stats.statsNote).toMatch(/not available|No records/)
      // Updates keep coming (one a second).
      const before = s.updatedAt
      await dash.waitFor((x) => x.updatedAt !== before, 3000)
      expect(dash.dialogs).toEqual([])
      expect(cspErrors(dash.errors)).toEqual([])
      expect(dash.errors).toEqual([])
      expect(await dash.page.locator('[data-field="firehose-off"]').isVisible()).toBe(true)
      await dash.screenshot('dashboard-off-desktop')
    } finally {
      await dash.close()
    }
  })

  it('fits a 375 px phone without sideways scrolling', async () => {
    const dash = await openDashboard(skyfill.url, { browser, viewport: PHONE })
    try {
      await dash.waitFor((x) => x.state === 'off')
      expect(await dash.hasHorizontalScroll()).toBe(false)
      await dash.screenshot('dashboard-off-phone')
    } finally {
      await dash.close()
    }
  })

  it('hides Pause/Resume until a token is entered, and keeps them for the tab', async () => {
    const dash = await openDashboard(skyfill.url, { browser })
    try {
      const pause = dash.page.locator('[data-field="pause"]')
      expect(await pause.isVisible()).toBe(false)
      expect((await dash.snapshot()).tokenFormVisible).toBe(true)
      await dash.unlock('some-admin-token-0123456789')
      await dash.waitFor((x) => x.controlsVisible && !x.tokenFormVisible)
      expect(await pause.isVisible()).toBe(true)
      // Nothing to pause while the backfill is off.
      expect(await pause.isDisabled()).toBe(true)
      await dash.page.reload()
      await dash.page.waitForSelector('body.has-data')
      expect((await dash.snapshot()).controlsVisible).toBe(true)
    } finally {
      await dash.close()
    }
  })
})

describe('rendering BackfillProgress delivered over SSE', () => {
  let fake: FakeServer

  beforeAll(async () => {
    fake = await startFakeServer()
  })

  afterAll(async () => {
    await fake?.stop()
  })

  it('shows state, percent, counts, window and resources, and follows new events', async () => {
    fake.progress = progressFixture()
    const dash = await openDashboard(fake.url, { browser })
    try {
      let s = await dash.waitFor((x) => x.state === 'running' && x.percent === 25)
      expect(s.percentText).toBe('25.0%')
      expect(s.counts).toEqual({ received: 2600, processed: 2500, skipped: 40, invalid: 3 })
      expect([s.cursor, s.head, s.start]).toEqual([3500, 11000, 1000])
      expect(s.eta).toBe('9s')
      expect(s.rate).toBe(812.4)
      expect(s.window.days).toBe('3 days')
      expect(s.window.availableFrom).toContain('seq 1,001')
      // Honest about a source that holds less than asked (30 h of 3 days).
      expect(s.window.note).toMatch(/holds less than asked: 3 days asked, only 30\.0 hours available/)
      expect(s.memory).toEqual({ rssMb: 181, limit: '512 MB' })
      expect(s.cpuPercent).toBe(12.5)
      expect(s.db).toEqual({ inUse: 2, limit: 4 })
      expect(s.loopP99).toBe('4.80 ms')
      expect(s.logs.at(-1)).toContain('Progress: 25.0%')
      expect(s.stats).toEqual([
        { collection: 'app.bsky.feed.like', count: 3400, text: '3,400' },
        { collection: 'app.bsky.feed.post', count: 1200, text: '1,200' },
      ])
      expect(s.statsTotal).toBe(4600)
      expect(await dash.text('stats-actors')).toBe('42')
      expect(await dash.text('stats-size')).toBe('12.0 MB')
      const bar = await dash.page.locator('[data-field="progress-bar"]').getAttribute('aria-valuenow')
      expect(bar).toBe('25')

      fake.progress = progressFixture({
        state: 'throttled',
        cursor: 8000,
        percent: 70,
        etaSeconds: 125,
        counts: { received: 7100, processed: 7000, skipped: 60, invalid: 4, upserted: 6500, deleted: 20, unindexed: 5 },
        eventsPerSecond: 1500,
        throttle: { profile: 'adaptive', describe: 'adaptive: cpu 14% of 15%', batchSize: 200, batchDelayMs: 40, useIdle: true, budget: { maxCpuPercent: 15, maxLagMs: 20 } },
      })
      s = await dash.waitFor((x) => x.percent === 70)
      // The governor's budget is shown against use.
      expect(s.cpu).toBe('12.5% of 15% budget')
      expect(s.loopP99).toBe('4.80 ms of 20 ms budget')
      expect(s.state).toBe('throttled')
      expect(s.stateDetail).toBe('Running, throttled: 40 ms between batches of 200 events (adaptive: cpu 14% of 15%).')
      expect(s.counts).toEqual({ received: 7100, processed: 7000, skipped: 60, invalid: 4 })
      expect(s.eta).toBe('2m05s')
      expect(s.cursor).toBe(8000)
      // The chart collects a point per tick.
      await dash.waitFor((x) => x.chartPoints >= 3)

      fake.progress = progressFixture({ state: 'complete', cursor: 11000, percent: 100, etaSeconds: null, completedAt: new Date().toISOString() })
      s = await dash.waitFor((x) => x.state === 'complete')
      expect(s.percent).toBe(100)
      expect(s.eta).toBe('done')

      fake.progress = progressFixture({ state: 'failed', error: 'relay refused the cursor' })
      s = await dash.waitFor((x) => x.state === 'failed')
      expect(s.error).toBe('relay refused the cursor')
      expect(dash.dialogs).toEqual([])
      expect(cspErrors(dash.errors)).toEqual([])
      expect(dash.errors).toEqual([])
    } finally {
      await dash.close()
    }
  })

  it('renders markup in data as text: no element, no script', async () => {
    fake.progress = progressFixture({
      relay: `ws://${XSS}`,
      state: 'failed',
      error: XSS,
      logs: [{ at: new Date().toISOString(), text: `[BACKFILL] ${XSS}` }, { at: new Date().toISOString(), text: XSS }],
    })
    fake.stats = statsFixture([{ collection: XSS, count: 1 }])
    const dash = await openDashboard(fake.url, { browser })
    try {
      const s = await dash.waitFor((x) => x.logs.length === 2 && x.stats.length === 1)
      expect(s.logs).toEqual([`[BACKFILL] ${XSS}`, XSS])
      expect(s.error).toBe(XSS)
      expect(s.stats[0]!.collection).toBe(XSS)
      expect(await dash.text('relay')).toBe(`ws://${XSS}`)
      expect(await dash.page.locator('img').count()).toBe(0)
      // Give an injected onerror a chance to fire, had it been parsed as HTML.
      await dash.page.waitForTimeout(500)
      expect(dash.dialogs).toEqual([])
      const lastLog = dash.page.locator('[data-field="logs"] li .log-text').last()
      expect(await lastLog.evaluate((el) => el.children.length)).toBe(0)
    } finally {
      await dash.close()
      fake.stats = statsFixture()
    }
  })

  it('fits a 375 px phone with long unbroken values', async () => {
    fake.progress = progressFixture({
      relay: `wss://${'very-long-relay-host-name.'.repeat(6)}example`,
      head: 123_456_789_012,
      cursor: 123_456_000_000,
      logs: [
        { at: new Date().toISOString(), text: `[BACKFILL] ${'x'.repeat(400)}` },
        { at: new Date().toISOString(), text: `[BACKFILL] Window: 3 days asked (from 2025-01-01T00:00:00.000Z), but the source holds 30.0 hours` },
      ],
      gaps: [{ afterSeq: 1200, resumedAt: 1300, reason: 'OutdatedCursor', at: new Date().toISOString() }],
    })
    fake.stats = statsFixture([{ collection: `app.bsky.${'averyverylongcollectionname'.repeat(3)}`, count: 123_456_789, exact: false }])
    const dash = await openDashboard(fake.url, { browser, viewport: PHONE })
    try {
      const s = await dash.waitFor((x) => x.head === 123_456_789_012 && x.stats.length === 1)
      expect(s.stats[0]!.text).toBe('≈ 123,456,789')
      expect(await dash.hasHorizontalScroll()).toBe(false)
      await dash.screenshot('dashboard-running-phone')
    } finally {
      await dash.close()
      fake.stats = statsFixture()
    }
  })

  it('takes a desktop screenshot of a running backfill', async () => {
    fake.progress = progressFixture()
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.waitFor((x) => x.state === 'running' && x.chartPoints >= 4)
      const file = await dash.screenshot('dashboard-running-desktop')
      expect(file).toMatch(/test-results\/dashboard-running-desktop\.png$/)
    } finally {
      await dash.close()
    }
  })

  it('pauses and resumes with a valid token, and says clearly when the token is rejected (401)', async () => {
    fake.progress = progressFixture()
    fake.adminToken = 'fixture-admin-token-0123456789'
    fake.actions.length = 0
    const dash = await openDashboard(fake.url, { browser })
    try {
      expect(await dash.page.locator('[data-field="pause"]').isVisible()).toBe(false)
      await dash.unlock('wrong-token-wrong-token')
      await dash.pause()
      let s = await dash.waitFor((x) => x.controlMessage?.startsWith('401') ?? false)
      expect(s.controlMessage).toContain('rejected this admin token')
      // A rejected token is forgotten: the form is back, the buttons gone.
      expect(s.tokenFormVisible).toBe(true)
      expect(s.controlsVisible).toBe(false)
      expect(fake.actions).toEqual([])

      await dash.unlock('fixture-admin-token-0123456789')
      await dash.pause()
      s = await dash.waitFor((x) => x.state === 'paused')
      expect(fake.actions).toEqual(['pause'])
      expect(s.stateDetail).toContain('by the operator')
      expect(await dash.page.locator('[data-field="pause"]').isDisabled()).toBe(true)
      await dash.page.waitForFunction(() => !document.querySelector<HTMLButtonElement>('[data-field="resume"]')!.disabled)
      await dash.resume()
      s = await dash.waitFor((x) => x.state === 'running')
      expect(fake.actions).toEqual(['pause', 'resume'])
      expect(s.controlMessage).toMatch(/Resumed/)
    } finally {
      await dash.close()
    }
  })

  it('says clearly when the server has controls disabled (403)', async () => {
    fake.progress = progressFixture()
    fake.adminToken = null
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.unlock('any-token-at-all-0123456789')
      await dash.pause()
      const s = await dash.waitFor((x) => x.controlMessage?.startsWith('403') ?? false)
      expect(s.controlMessage).toContain('set ADMIN_TOKEN')
      // The token is not the problem: it is kept.
      expect(s.controlsVisible).toBe(true)
    } finally {
      await dash.close()
      fake.adminToken = 'fixture-admin-token-0123456789'
    }
  })

  it('reconnects by itself when the stream drops', async () => {
    fake.progress = progressFixture()
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.waitFor((x) => x.connection === 'live')
      fake.hub.close()
      fake.progress = progressFixture({ cursor: 9999, percent: 90 })
      const s = await dash.waitFor((x) => x.percent === 90 && x.connection === 'live', 10_000)
      expect(s.cursor).toBe(9999)
    } finally {
      await dash.close()
    }
  })

  it('says so and retries with a backoff when the server refuses the stream (503: too many viewers)', async () => {
    const full = await startFakeServer({ live: { maxClients: 0 } })
    const dash = await openDashboard(full.url, { browser, waitForData: false })
    try {
      await dash.page.waitForFunction(() => document.querySelector('[data-field="connection-detail"]')?.textContent?.includes('connection refused'))
      expect((await dash.snapshot()).connection).toBe('reconnecting')
      expect(await dash.text('connection-detail')).toMatch(/connection refused; retrying in \d+ s/)
      expect(dash.dialogs).toEqual([])
    } finally {
      await dash.close()
      await full.stop()
    }
  })
})
