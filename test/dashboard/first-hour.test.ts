// What a new user reads on the dashboard in the first hour (issue 9): labelled header badges, a rate chart with
// history and a time axis, one vocabulary for rejected/skipped/invalid, and the source's connection state. Against
// the real /api/live and dashboard routes fed fixtures (fixtures.ts).
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { progressFixture, startFakeServer, statsFixture, type FakeServer } from './fixtures.js'
import { launchBrowser, openDashboard } from './page.js'

let browser: Browser
let fake: FakeServer

beforeAll(async () => {
  await ensureClientBuilt({ log: () => {} })
  browser = await launchBrowser()
  fake = await startFakeServer()
})

afterAll(async () => {
  await fake?.stop()
  await browser?.close()
})

beforeEach(() => {
  fake.progress = progressFixture()
  fake.firehose = { state: 'off' }
  fake.stats = statsFixture()
})

describe('the dashboard header', () => {
  it('labels each badge with what it is about: the backfill, the firehose, and this page’s own stream', async () => {
    fake.firehose = { state: 'live', cursor: 12, received: 3, processed: 3, eventsPerSecond: 1.5, error: null }
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
