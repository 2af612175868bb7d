// Instances dying under a shared backfill. Three real server processes on one database backfill a reference PDS
// whose history aged out of what it replays (every record comes from the repositories), with the live firehose on
// and live writes going on. Then:
//   - the instance holding the live firehose is SIGKILLed: another takes the firehose over from the committed cursor
//     within seconds, and its repository jobs are taken over as soon as its heartbeat stops;
//   - two instances are SIGKILLed at once and started again with the same INSTANCE_ID: they give back what their
//     previous lives held, and with the survivor they finish.
// Each time every table ends equal to the PDS's repos, record for record, and no repository job is lost or counted
// twice: each ends done, once (its done_at never rewritten), a repository done before a kill is never fetched
// again, and the records counted over the jobs are exactly the PDS's. Every getRepo passes a counting proxy.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FirehoseStatus } from '../../server/services/firehose-status.js'
import { testDatabase } from '../harness/db.js'
import type { PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import type { TestDatabase } from '../harness/postgres.js'
import type { SeedSummary } from '../harness/seed.js'
import { spawnInstances, type ServerInstance as Instance } from '../harness/server-process.js'
import { until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'
import type { TestHttpServer } from '../support/http-server.js'
import type { RepoProxy } from '../support/pds-proxy.js'
import { startAgedPds, startLiveWrites, type AgedPds } from '../support/aged-pds.js'

const IDS = ['alpha', 'beta', 'gamma'] as const
/** A dead instance's jobs are taken over once its heartbeat is three intervals old: seconds, not its 30 s leases. */
const TAKEOVER_MS = 15_000

let aged: AgedPds
let pds: PdsHandle
let seeded: SeedSummary
let proxy: RepoProxy
let plc: TestHttpServer
const running: Instance[] = []
const databases: TestDatabase[] = []

beforeAll(async () => {
  aged = await startAgedPds({ accounts: 9, actionsPerAccount: 14, seed: 41 })
  ;({ pds, seeded, proxy, plc } = aged)
}, 120_000)

afterAll(async () => {
  for (const i of running) i.server.kill('SIGKILL')
  await Promise.all(running.map((i) => i.server.exited))
  await Promise.all(databases.map((d) => d.drop()))
  await aged?.close()
})

type JobRow = { did: string; state: string; done_at: Date | null; lease_owner: string | null; resync: string | null }

/** One backfill on a database of its own, by instances started on demand, with what the tests check sampled all along. */
async function scenario() {
  const db = await testDatabase()
  databases.push(db)
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  const fetchesBefore = new Map(seeded.dids.map((did) => [did, proxy.fetchesOf(did)]))
  const env = {
    DATABASE_URL: db.url,
    RELAY_URL: pds.url,
    PLC_URL: plc.url,
    HANDLE_RESOLVER_URL: pds.url,
    ALLOW_PRIVATE_HOSTS: 'true',
    FIREHOSE_ENABLED: 'true',
    BACKFILL_DAYS: 'all',
    // A few records per transaction and a pause after each: a repository takes a second or so, so kills land
    // between some done and some not.
    BACKFILL_PROFILE: 'background',
    BACKFILL_BATCH_SIZE: '4',
    BACKFILL_BATCH_DELAY_MS: '100',
    BACKFILL_REPO_CONCURRENCY: '1',
  }
  const start = async (ids: readonly string[]) => {
    const started = await spawnInstances(ids, env)
    running.push(...started)
    return started
  }
  /** The three, once each is fetching repositories. */
  const startAll = async () => {
    const started = await start(IDS)
    await Promise.all(started.map((i) => i.server.waitForLine(/\[BACKFILL\] Repos: fetching every record/, 60_000)))
    return started
  }
  // A job with its repository's resync, if one was ever queued (the live firehose saw a commit that did not follow).
  const jobs = async () =>
    (
      await pool.query<JobRow>(
        `SELECT j.did, j.state, j.done_at, j.lease_owner, CASE WHEN p.sync_state <> 'active' OR j.discovered_via = 'resync'
           OR p.reason IS NOT NULL THEN coalesce(p.reason, p.sync_state) END AS resync
         FROM repos j LEFT JOIN repo_positions p ON p.did = j.did ORDER BY j.did`,
      )
    ).rows

  // Sampled all along: a done job stays done, its done_at written once, unless its repository was queued for a
  // resync (a new unit of work, for a reason the firehose gave); those are counted apart.
  const doneAt = new Map<string, number>()
  const rewritten: string[] = []
  const resynced = new Map<string, string>()
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      for (const j of await jobs().catch(() => [])) {
        const at = doneAt.get(j.did)
        if (at !== undefined && (j.state !== 'done' || j.done_at?.getTime() !== at)) {
          if (j.resync) resynced.set(j.did, j.resync)
          else rewritten.push(`${j.did}: ${j.state} ${j.done_at}`)
          doneAt.delete(j.did)
        }
        if (!doneAt.has(j.did) && j.state === 'done' && j.done_at) doneAt.set(j.did, j.done_at.getTime())
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  })()

  // Live writes all along, to accounts the backfill is fetching: the live firehose indexes them.
  const writes = startLiveWrites(seeded, 300)

  const fetchesOf = (did: string) => proxy.fetchesOf(did) - fetchesBefore.get(did)!
  return {
    pool,
    start,
    startAll,
    jobs,
    /** getRepo calls for `did` in this scenario. */
    fetchesOf,
    /** Kills at once the instances `victims` names, as soon as it names any; returns the jobs done then and those they held. */
    async killWhen(victims: () => Promise<Instance[]>, what: string) {
      let chosen: Instance[] = []
      await until(
        async () => {
          chosen = await victims()
          return chosen.length > 0
        },
        40_000,
        what,
      )
      for (const v of chosen) v.server.kill('SIGKILL')
      await Promise.all(chosen.map((v) => v.server.exited))
      const at = await jobs()
      return {
        killed: chosen,
        doneBefore: at.filter((j) => j.state === 'done'),
        held: at.filter((j) => j.state === 'fetching' && chosen.some((v) => v.id === j.lease_owner)).map((j) => j.did),
      }
    },
    /** Every job done once, none done before a kill fetched again, the records counted once, the tables equal the PDS. */
    async expectFinished(doneBefore: readonly JobRow[], held: readonly string[]) {
      await writes.stop()
      sampling = false
      await sampler
      const rows = await jobs()
      expect(rows.map((j) => ({ did: j.did, state: j.state }))).toEqual([...seeded.dids].sort().map((did) => ({ did, state: 'done' })))
      expect(rewritten).toEqual([])
      if (resynced.size) console.log(`[INSTANCES] resynced: ${[...resynced].map(([did, why]) => `${did} (${why})`).join(', ')}`)
      const once = seeded.dids.filter((did) => !resynced.has(did))
      for (const j of doneBefore.filter((j) => !resynced.has(j.did))) {
        expect(fetchesOf(j.did), `getRepo calls for ${j.did}, done before the kill`).toBe(1)
      }
      // Fetched once each, but for the jobs a killed instance held: those twice at most.
      const fetches = once.reduce((n, did) => n + fetchesOf(did), 0)
      expect(fetches).toBeGreaterThanOrEqual(once.length)
      expect(fetches).toBeLessThanOrEqual(once.length + held.filter((did) => !resynced.has(did)).length)
      // A job a killed instance held: fetched by it (unless it was killed before asking) and once more by the taker.
      for (const did of held) expect(fetchesOf(did), `getRepo calls for ${did}, held by a killed instance`).toBeLessThanOrEqual(2 + (resynced.has(did) ? 1 : 0))
      const truth = await dumpPdsRepos(pds.url)
      await until(async () => (await compareWithPds(pool, await dumpPdsRepos(pds.url))).length === 0, 20_000, 'the tables to equal the PDS').catch(
        async (err: Error) => {
          throw new Error(`${err.message}: ${JSON.stringify(await compareWithPds(pool, await dumpPdsRepos(pds.url)))}`)
        },
      )
      expect(truth.total).toBeGreaterThan(50)
    },
    async close() {
      sampling = false
      await Promise.allSettled([writes.stop(), sampler])
      await pool.end()
    },
  }
}

async function firehoseOf(instance: Instance): Promise<FirehoseStatus | null> {
  const res = await fetch(`${instance.url}/api/firehose`).catch(() => null)
  return res?.ok ? ((await res.json()) as FirehoseStatus) : null
}

const doneCount = (rows: readonly JobRow[]) => rows.filter((j) => j.state === 'done').length

describe('three instances sharing a repository backfill with the live firehose on', () => {
  it('the one holding the live firehose SIGKILLed: another takes the firehose and its jobs over within seconds, and the tables equal the PDS', async () => {
    const s = await scenario()
    try {
      const instances = await s.startAll()
      const { killed, doneBefore, held } = await s.killWhen(async () => {
        const rows = await s.jobs()
        if (doneCount(rows) < 3) return []
        for (const i of instances) {
          const status = await firehoseOf(i)
          if (status?.state === 'live' && rows.some((j) => j.state === 'fetching' && j.lease_owner === i.id)) return [i]
        }
        return []
      }, 'some repositories done, and the firehose holder fetching one')
      const killedAt = Date.now()
      const [victim] = killed
      const survivors = instances.filter((i) => i !== victim)
      expect(held.length).toBeGreaterThan(0)

      // The firehose: one survivor holds it within seconds, from the committed cursor.
      await until(async () => (await Promise.all(survivors.map(firehoseOf))).some((f) => f?.state === 'live'), TAKEOVER_MS, 'a survivor indexing the live firehose')
      // The victim's jobs: taken over once its heartbeat stopped, long before their 30 s leases ran out.
      await until(
        async () => (await s.jobs()).filter((j) => held.includes(j.did)).every((j) => j.state === 'done' || (j.lease_owner !== null && j.lease_owner !== victim!.id)),
        TAKEOVER_MS,
        `the jobs ${victim!.id} held taken over`,
      )
      expect(Date.now() - killedAt).toBeLessThan(TAKEOVER_MS)

      await Promise.all(survivors.map((i) => i.server.waitForLine(/\[BACKFILL\] Repos complete: \d+ fetched/, 60_000)))
      await s.expectFinished(doneBefore, held)
    } finally {
      await s.close()
    }
  }, 120_000)

  it('two SIGKILLed at once and started again with the same INSTANCE_ID: they give back what they held, and all three finish', async () => {
    const s = await scenario()
    try {
      const instances = await s.startAll()
      const { killed, doneBefore, held } = await s.killWhen(async () => {
        const rows = await s.jobs()
        const holders = instances.filter((i) => rows.some((j) => j.state === 'fetching' && j.lease_owner === i.id))
        return doneCount(rows) >= 3 && holders.length >= 2 ? holders.slice(0, 2) : []
      }, 'some repositories done, and two instances fetching')
      // Each holds a job of the run's repository part and maybe one of its resync worker.
      expect(held.length).toBeGreaterThanOrEqual(2)

      const restarted = await s.start(killed.map((k) => k.id))
      const restartedAt = Date.now()
      const survivor = instances.find((i) => !killed.includes(i))!
      // Their heartbeat rows are alive again at once: what their previous lives held is given back when they start
      // (or was taken by the survivor before that), not left until the 30 s leases run out.
      await until(
        async () => (await s.jobs()).filter((j) => held.includes(j.did)).every((j) => j.state === 'done'),
        TAKEOVER_MS,
        'the jobs the killed instances held done',
      )
      expect(Date.now() - restartedAt).toBeLessThan(TAKEOVER_MS)
      // A restarted one may find the run already complete.
      await Promise.all([...restarted, survivor].map((i) => i.server.waitForLine(/\[BACKFILL\] (Repos complete: \d+ fetched|Complete: this window was backfilled)/, 60_000)))
      await s.expectFinished(doneBefore, held)
      // One of the three indexes the live firehose.
      const live = (await Promise.all([...restarted, survivor].map(firehoseOf))).filter((f) => f?.state === 'live')
      expect(live).toHaveLength(1)
    } finally {
      await s.close()
    }
  }, 120_000)
})
