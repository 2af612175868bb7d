// The database restarted under three instances sharing the replay of one window (real server processes, a synthetic
// firehose, a Postgres cluster of this file's own): it is down for longer than a range's lease (10 s) and an
// instance's live time (three 2 s heartbeats). They reconnect and finish, and the leases stay honest: no range is
// taken from the live instance that held it merely because the database was down, so each is claimed once and done
// once, and every frame is written once (the frames the instances wrote add up to the window). The tables equal a
// sequential replay of every frame.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import type { StoredFrame } from '../../bench/source/store.js'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { spawnInstances, type ServerInstance as Instance } from '../harness/server-process.js'
import { bulkFrames } from './support/bulk.js'
import { startOwnCluster, type OwnCluster } from './support/cluster.js'
import { until } from './support/run.js'
import { groundTruth, readState, withoutHandles } from './support/truth.js'

const EVENTS = 8000
const DOWN_MS = 12_000
const IDS = ['alpha', 'beta', 'gamma'] as const

type RangeRow = { id: string; range_start: string; range_end: string; state: string; lease_owner: string | null; claims: number; claimed_from: string; cursor: string | null }

let cluster: OwnCluster
let frames: StoredFrame[]
let source: SyntheticFirehose
let pool: pg.Pool
const instances: Instance[] = []

beforeAll(async () => {
  frames = await bulkFrames({ accounts: 60, events: EVENTS, seed: 17 })
  ;[cluster, source] = await Promise.all([startOwnCluster(), startSyntheticFirehose({ frames }), groundTruth(frames, 500)])
}, 120_000)

afterAll(async () => {
  for (const i of instances) i.server.kill('SIGKILL')
  await Promise.all(instances.map((i) => i.server.exited))
  await pool?.end()
  await source?.close()
  await cluster?.destroy()
})

describe('three instances replaying one window when the database restarts', () => {
  it('reconnect and finish, each range claimed once and every frame written once, the tables equal to every frame replayed', async () => {
    const url = await cluster.createDatabase()
    pool = new pg.Pool({ connectionString: url, max: 2 })
    pool.on('error', () => {})
    const ranges = async () =>
      (await pool.query<RangeRow>(`SELECT r.*, c.seq AS cursor FROM replay_ranges r LEFT JOIN cursors c ON c.name = r.cursor_name ORDER BY r.range_start`)).rows
    instances.push(
      ...(await spawnInstances(IDS, {
        DATABASE_URL: url,
        RELAY_URL: source.url,
        PLC_URL: source.url.replace(/^ws/, 'http'),
        BACKFILL_DAYS: '-1',
        FIREHOSE_ENABLED: 'false',
        BACKFILL_BATCH_SIZE: '25',
        BACKFILL_BATCH_DELAY_MS: '50',
        BACKFILL_MAX_CONCURRENT: '2',
      })),
    )
    // Instances in the middle of ranges of their own (two at least: a slow start may leave the third behind).
    await until(
      async () => {
        const rows = await ranges().catch(() => [])
        const replaying = rows.filter((r) => r.state === 'replaying' && Number(r.cursor) > Number(r.range_start) + 100 && Number(r.cursor) < Number(r.range_end) - 500)
        return new Set(replaying.map((r) => r.lease_owner)).size >= 2
      },
      60_000,
      'two instances half-way through ranges',
    )

    await cluster.stop()
    await new Promise((r) => setTimeout(r, DOWN_MS))
    await cluster.start()

    await Promise.all(instances.map((i) => i.server.waitForLine(/\[BACKFILL\] Complete: reached head seq/, 60_000)))
    const after = await ranges()
    // Each range done, claimed once: nothing was taken from a live holder because the database was down.
    expect(after.map((r) => ({ state: r.state, claims: r.claims, cursor: r.cursor }))).toEqual(after.map((r) => ({ state: 'done', claims: 1, cursor: r.range_end })))
    expect(instances.flatMap((i) => i.server.lines.filter((l) => /taken over from|another instance took it over/.test(l)))).toEqual([])
    // Every frame written once: what the three wrote adds up to the window.
    const progress = await Promise.all(instances.map(async (i) => (await (await fetch(`${i.url}/api/backfill`)).json()) as BackfillProgress))
    expect(progress.reduce((n, p) => n + p.counts.processed, 0)).toBe(EVENTS)
    for (const p of progress) expect(p).toMatchObject({ state: 'complete', cursor: EVENTS, percent: 100 })
    // They reconnected: the outage was seen, and survived, by every one.
    for (const i of instances) expect(i.server.lines.some((l) => /\[BACKFILL\] Database unavailable/.test(l)), i.id).toBe(true)
    expect(withoutHandles(await readState(pool))).toEqual(withoutHandles(await groundTruth(frames, 500)))
  }, 120_000)
})
