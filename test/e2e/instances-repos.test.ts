// Three instances (real server processes) on one database share a beyond-the-window backfill (BACKFILL_DAYS=all
// against a reference PDS that replays two seconds) while live writes go on; one is SIGKILLed in the middle of the
// repository part. The other two finish it (the killed one's repository is taken over when its heartbeat stops) and
// every table equals the PDS's repos, record for record. Every request to the repo host passes a counting proxy
// (the DID documents point there): the rate and the requests in flight summed over the instances stay within
// BACKFILL_HOST_RATE and BACKFILL_HOST_CONCURRENCY, each instance using its share of them. /api/backfill lists the
// instances, with nothing of their configuration.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { testDatabase } from '../harness/db.js'
import type { PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import type { TestDatabase } from '../harness/postgres.js'
import type { SeedSummary } from '../harness/seed.js'
import { spawnInstances, type ServerInstance as Instance } from '../harness/server-process.js'
import { until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'
import type { RepoProxy, RequestSpan } from '../support/pds-proxy.js'
import { startAgedPds, startLiveWrites, type AgedPds } from '../support/aged-pds.js'

const RATE = 2
const CONCURRENCY = 3
const IDS = ['alpha', 'beta', 'gamma'] as const
const ADMIN_TOKEN = 'instances-test-admin-token'


let aged: AgedPds
let pds: PdsHandle
let seeded: SeedSummary
let proxy: RepoProxy
let db: TestDatabase
let pool: pg.Pool
const instances: Instance[] = []

beforeAll(async () => {
  aged = await startAgedPds({ accounts: 20, actionsPerAccount: 8, seed: 31 })
  ;({ pds, seeded, proxy } = aged)
  db = await testDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
}, 120_000)

afterAll(async () => {
  for (const i of instances) i.server.kill('SIGKILL')
  await Promise.all(instances.map((i) => i.server.exited))
  await pool?.end()
  await db?.drop()
  await aged?.close()
})

/** The most requests that arrived at the host within any `windowMs`. */
function mostIn(spans: readonly RequestSpan[], windowMs: number): number {
  const at = spans.map((s) => s.at).sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= windowMs) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

/** The most requests in flight at the host at once. */
function mostInFlight(spans: readonly RequestSpan[]): number {
  const edges = spans.flatMap((s) => [
    { t: s.at, d: 1 },
    { t: s.endedAt ?? Number.POSITIVE_INFINITY, d: -1 },
  ])
  edges.sort((a, b) => a.t - b.t || a.d - b.d)
  let now = 0
  let most = 0
  for (const e of edges) most = Math.max(most, (now += e.d))
  return most
}

describe('three instances sharing a repository backfill', () => {
  it('one SIGKILLed mid-way: the other two finish, the tables equal the PDS, and the host limits hold summed over instances', async () => {
    instances.push(
      ...(await spawnInstances(IDS, {
        DATABASE_URL: db.url,
        RELAY_URL: pds.url,
        PLC_URL: aged.plc.url,
        HANDLE_RESOLVER_URL: pds.url,
        ALLOW_PRIVATE_HOSTS: 'true',
        FIREHOSE_ENABLED: 'true',
        BACKFILL_DAYS: 'all',
        BACKFILL_HOST_RATE: String(RATE),
        BACKFILL_HOST_CONCURRENCY: String(CONCURRENCY),
        // Writing is quick: the host's rate is what holds the repository part back, so the limit is tested.
        BACKFILL_PROFILE: 'max',
        BACKFILL_REPO_CONCURRENCY: '4',
        ADMIN_TOKEN,
      })),
    )
    await Promise.all(instances.map((i) => i.server.waitForLine(/\[BACKFILL\] Repos: fetching every record/, 60_000)))

    // Live writes all along, to accounts the backfill is fetching: the live firehose (one instance) indexes them.
    const writes = startLiveWrites(seeded, 250)

    let victim: Instance | undefined
    await until(
      async () => {
        const { rows } = await pool.query<{ done: number; owner: string | null }>(
          `SELECT (SELECT count(*)::int FROM repos WHERE state = 'done') AS done,
                  (SELECT lease_owner FROM repos WHERE state = 'fetching' ORDER BY did LIMIT 1) AS owner`,
        )
        victim = instances.find((i) => i.id === rows[0]!.owner)
        return rows[0]!.done >= 6 && victim !== undefined
      },
      60_000,
      'some repositories done and one being fetched',
    )
    victim!.server.kill('SIGKILL')
    await victim!.server.exited
    const survivors = instances.filter((i) => i !== victim)
    // The killed one's repository is taken over once its heartbeat is stale (seconds, not its 30 s lease).
    await Promise.all(survivors.map((i) => i.server.waitForLine(/\[BACKFILL\] Repos complete: \d+ fetched/, 40_000)))
    await writes.stop()

    const { rows: states } = await pool.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM repos GROUP BY state`)
    expect(states).toEqual([{ state: 'done', n: seeded.dids.length }])
    await until(async () => (await compareWithPds(pool, await dumpPdsRepos(pds.url))).length === 0, 30_000, 'the tables to equal the PDS')

    // The limits, summed over the instances, as the repo host saw them.
    const spans = proxy.spans
    const first = Math.min(...spans.map((s) => s.at))
    const last = Math.max(...spans.map((s) => s.at))
    const perSecond = ((spans.length - 1) * 1000) / Math.max(1, last - first)
    const inFlight = mostInFlight(spans)
    const windows = [1000, 2000, 5000].map((ms) => ({ ms, most: mostIn(spans, ms) }))
    console.log(
      `[INSTANCES] ${spans.length} requests at the repo host over ${((last - first) / 1000).toFixed(1)} s: ` +
        `${perSecond.toFixed(2)}/s on average (limit ${RATE}/s); most in 1 s / 2 s / 5 s: ${windows.map((w) => w.most).join(' / ')}; ` +
        `most in flight: ${inFlight} (limit ${CONCURRENCY}); victim ${victim!.id}`,
    )
    expect(spans.length).toBeGreaterThanOrEqual(seeded.dids.length)
    expect(inFlight).toBeLessThanOrEqual(CONCURRENCY)
    // A token bucket per instance: its share of the rate, and at most max(1, share) tokens saved up, which for the
    // three together is a burst of RATE requests.
    for (const w of windows) expect(w.most, `requests within ${w.ms} ms`).toBeLessThanOrEqual(RATE + (RATE * w.ms) / 1000)

    // Every survivor shows the whole backfill and the instances; nothing of their configuration.
    await until(async () => (await (await fetch(`${survivors[0]!.url}/api/backfill`)).json()).state === 'complete', 20_000, 'the run complete')
    const text = await (await fetch(`${survivors[0]!.url}/api/backfill`)).text()
    for (const secret of [db.url, new URL(db.url).password, ADMIN_TOKEN].filter(Boolean)) expect(text).not.toContain(secret)
    const progress = JSON.parse(text) as BackfillProgress
    expect(progress.percent).toBe(100)
    expect(progress.instances.map((i) => ({ id: i.id, live: i.live }))).toEqual(
      instances.map((i) => ({ id: i.id, live: i !== victim })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    )
    for (const i of progress.instances) expect(Object.keys(i).sort()).toEqual(['eventsPerSecond', 'framesWritten', 'holds', 'host', 'id', 'lastHeartbeat', 'live', 'pid', 'recordsPerSecond', 'self', 'startedAt'])
    const metrics = await (await fetch(`${survivors[0]!.url}/metrics`)).text()
    expect(metrics).toContain(`skyfill_instance_live{instance="${victim!.id}"} 0`)
    expect(metrics).toContain(`skyfill_instance_live{instance="${survivors[0]!.id}"} 1`)
  }, 170_000)
})
