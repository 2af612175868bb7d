// A real backfill from Bluesky's reference PDS, watched in headless Chromium: what the dashboard shows while it
// runs and when it ends. The server runs deliberately slowly (2 events per batch, 100 ms between batches) so that
// the run lasts several SSE ticks. One run is recorded as a timeline of page snapshots (plus screenshots under
// test-results/); each test asserts one behaviour on that timeline.
import pg from 'pg'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { parseConfig } from '../../server/config/index.js'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'
import { startSkyfill, type Skyfill } from '../../server/main.js'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos, type PdsDump } from '../harness/pds-repos.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { COLLECTIONS, seedWorkload } from '../harness/seed.js'
import { launchBrowser, openDashboard, type DashboardPage, type DashboardSnapshot } from '../dashboard/page.js'

const XSS = '<img src=x onerror=alert(1)>'

let pds: PdsHandle
let dump: PdsDump
let db: TestDatabase
let pool: pg.Pool
let sky: Skyfill
let browser: Browser
let dash: DashboardPage
/** What the server printed (the same lines the dashboard's log shows). */
const serverLines: string[] = []
/** The page, sampled every 200 ms from the first frame until the run is complete and the counts table caught up. */
const timeline: (DashboardSnapshot & { t: number })[] = []
const shots: { mid?: string; end?: string } = {}
/** The XSS post's URI. */
let xssUri: string

/** Indexed records per collection that the PDS holds (every indexed collection, 0 when absent). */
const pdsCounts = () => RECORD_MODULES.map((m) => ({ collection: m.collection, count: dump.records.get(m.collection)?.size ?? 0 }))
const tableMatchesPds = (s: DashboardSnapshot) =>
  pdsCounts().every(({ collection, count }) => s.stats.find((r) => r.collection === collection)?.count === count)

beforeAll(async () => {
  await ensureClientBuilt({ log: () => {} })
  browser = await launchBrowser()
  pds = await startPds()
  // ~300 firehose events (mostly single-write commits): about 15 s of replay at ~20 events/s.
  const seeded = await seedWorkload(pds.url, { accounts: 8, actionsPerAccount: 50, seed: 77, batchShare: 0.25 })
  // Markup in a post's text, a profile's display name and a list's name: record text the page must never parse.
  const author = seeded.accounts[0]!
  const post = await author.agent.com.atproto.repo.createRecord({
    repo: author.did,
    collection: COLLECTIONS.post,
    record: { $type: COLLECTIONS.post, text: XSS, createdAt: new Date().toISOString() },
  })
  xssUri = post.data.uri
  await author.agent.com.atproto.repo.putRecord({
    repo: author.did,
    collection: COLLECTIONS.profile,
    rkey: 'self',
    record: { $type: COLLECTIONS.profile, displayName: XSS, description: XSS },
  })
  await author.agent.com.atproto.repo.createRecord({
    repo: author.did,
    collection: COLLECTIONS.list,
    record: { $type: COLLECTIONS.list, name: XSS, purpose: 'app.bsky.graph.defs#curatelist', createdAt: new Date().toISOString() },
  })
  dump = await dumpPdsRepos(pds.url)

  db = await testDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 1 })
  sky = await startSkyfill(
    parseConfig({
      DATABASE_URL: db.url,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      RELAY_URL: pds.url,
      BACKFILL_DAYS: '-1',
      BACKFILL_BATCH_SIZE: '2',
      BACKFILL_BATCH_DELAY_MS: '100',
      FIREHOSE_ENABLED: 'false',
    }),
    (line) => serverLines.push(line),
  )
  // The backfill starts by locating the window (a few seconds of probing): the page is up before it replays.
  dash = await openDashboard(sky.url, { browser })
  const t0 = Date.now()
  const deadline = t0 + 90_000
  for (;;) {
    const s = await dash.snapshot()
    timeline.push({ ...s, t: Date.now() - t0 })
    if (!shots.mid && s.state !== 'complete' && s.percent !== null && s.percent >= 25 && s.percent <= 75) {
      shots.mid = await dash.screenshot('e2e-dashboard-backfill-mid')
    }
    // The counts table refreshes at most every 15 s, so it may trail the completion by that much.
    if ((s.state === 'complete' && tableMatchesPds(s)) || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 200))
  }
  shots.end = await dash.screenshot('e2e-dashboard-backfill-complete')
}, 180_000)

afterAll(async () => {
  await dash?.close()
  await browser?.close()
  await sky?.stop()
  await pool?.end()
  await db?.drop()
  await pds?.stop()
})

const last = () => timeline.at(-1)!
/** Consecutive duplicates removed. */
const changes = <T>(values: T[]) => values.filter((v, i) => i === 0 || v !== values[i - 1])

describe('a real backfill from the reference PDS, on the dashboard', () => {
  it('shows the run as running or throttled, then complete', () => {
    const states = changes(timeline.map((s) => s.state))
    const firstActive = states.findIndex((s) => s === 'running' || s === 'throttled')
    expect(firstActive, `states seen: ${states.join(' → ')}`).toBeGreaterThanOrEqual(0)
    expect(states.at(-1)).toBe('complete')
    // Only the start-up states come before it, and nothing but running/throttled between it and complete.
    expect(states.slice(0, firstActive).every((s) => ['idle', 'locating'].includes(s))).toBe(true)
    expect(states.slice(firstActive, -1).every((s) => s === 'running' || s === 'throttled')).toBe(true)
    // 100 ms between batches is a throttle, and the page says so in words.
    expect(states).toContain('throttled')
    const throttled = timeline.find((s) => s.state === 'throttled')!
    expect(throttled.stateDetail).toMatch(/^Running, throttled: 100 ms between batches of 2 events/)
    expect(last().stateDetail).toMatch(/^Complete: backfilled up to seq [\d,]+ at /)
  })

  it('shows the percent rising while the backfill runs, to 100 at the end', () => {
    const active = timeline.filter((s) => s.state === 'running' || s.state === 'throttled').map((s) => s.percent)
    expect(active.every((p) => p !== null)).toBe(true)
    const shown = changes(active as number[])
    // Never backwards, and strictly up more than twice (each SSE tick moves it).
    for (let i = 1; i < shown.length; i++) expect(shown[i]!).toBeGreaterThan(shown[i - 1]!)
    expect(shown.length, `percents shown: ${shown.join(', ')}`).toBeGreaterThanOrEqual(3)
    expect(shown[0]!).toBeLessThan(50)
    expect(last().percent).toBe(100)
    expect(last().eta).toBe('done')
  })

  it('shows the received and processed counts growing to every event replayed', async () => {
    const active = timeline.filter((s) => s.state === 'running' || s.state === 'throttled')
    for (const key of ['received', 'processed'] as const) {
      const shown = changes(active.map((s) => s.counts[key]!))
      for (let i = 1; i < shown.length; i++) expect(shown[i]!).toBeGreaterThan(shown[i - 1]!)
      expect(shown.length, `${key} shown: ${shown.join(', ')}`).toBeGreaterThanOrEqual(3)
    }
    // The end shows every event up to the head, as the API reports it.
    const api = (await (await fetch(`${sky.url}/api/backfill`)).json()) as { head: number; counts: Record<string, number> }
    expect(last().counts).toEqual({ received: api.counts.received, processed: api.counts.processed, skipped: api.counts.skipped, invalid: 0 })
    expect(last().counts.processed).toBe(api.head)
    expect(last().cursor).toBe(api.head)
    expect(last().head).toBe(api.head)
  })

  it("ends with the PDS's record count for every collection in the indexed-records table", () => {
    const rows = last().stats.map(({ collection, count }) => ({ collection, count }))
    expect([...rows].sort((a, b) => a.collection.localeCompare(b.collection))).toEqual(
      pdsCounts().sort((a, b) => a.collection.localeCompare(b.collection)),
    )
    expect(last().statsTotal).toBe(pdsCounts().reduce((n, c) => n + c.count, 0))
    expect(last().stats.every((r) => !r.text.includes('≈'))).toBe(true)
  })

  it('shows the [BACKFILL] log of the run, from replay to completion', () => {
    const logs = last().logs
    expect(logs.length).toBeGreaterThan(0)
    expect(logs.every((l) => l.startsWith('[BACKFILL] '))).toBe(true)
    expect(logs.some((l) => /^\[BACKFILL\] Replaying from cursor \d+ to head \d+$/.test(l))).toBe(true)
    expect(logs.some((l) => /^\[BACKFILL\] Progress: [\d.]+% cursor \d+\/\d+/.test(l))).toBe(true)
    expect(logs.at(-1)).toMatch(/^\[BACKFILL\] Complete: reached head seq \d+/)
    // The page shows the lines the server printed, in order (the page keeps the last 50).
    const printed = serverLines.filter((l) => l.startsWith('[BACKFILL] '))
    expect(printed.slice(-logs.length)).toEqual(logs)
    // Lines appeared while the run went on, not only at the end.
    const during = timeline.filter((s) => s.state === 'throttled' || s.state === 'running').map((s) => s.logs.length)
    expect(Math.max(...during)).toBeGreaterThan(0)
  })

  it('saves screenshots of the page mid-run and at the end', () => {
    expect(shots.mid && existsSync(shots.mid)).toBe(true)
    expect(shots.end && existsSync(shots.end)).toBe(true)
  })

  it('never turns markup in records into elements: the post, profile and list with <img onerror> stay inert', async () => {
    // The records were indexed verbatim: the run did carry the markup.
    const { rows } = await pool.query<{ text: string }>('SELECT text FROM posts WHERE uri = $1', [xssUri])
    expect(rows).toEqual([{ text: XSS }])
    // The dashboard shows no record text (no posts, names or descriptions); the text it does show (log lines, the
    // collection table, state and window notes) is plain text nodes: no element from data, no dialog, no error.
    expect(await dash.page.locator('img').count()).toBe(0)
    const elementChildren = await dash.page.evaluate(() =>
      [...document.querySelectorAll('[data-field="logs"] .log-text, [data-field="stats-rows"] td')].reduce((n, el) => n + el.children.length, 0),
    )
    expect(elementChildren).toBe(0)
    await dash.page.waitForTimeout(300)
    expect(dash.dialogs).toEqual([])
    expect(dash.errors).toEqual([])
  })
})
