// When another instance may take a unit of work (a repository job, a replay range) from its holder: as soon as the
// holder's heartbeat stops (a dead instance's work is taken over in seconds, not after its leases), and not merely
// because the database restarted under a live holder that has not reconnected yet.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../server/db/pools.js'
import { migrate } from '../../server/db/migrate.js'
import { PgRepoJobStore } from '../../server/repos/job-store.js'
import { RangeStore } from '../../server/services/backfill/range-store.js'
import { InstanceRegistry } from '../../server/services/instance-registry.js'
import { startOwnCluster, type OwnCluster } from '../faults/support/cluster.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'

const RUN = 'run-1'
const DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
const LONG_LEASE_MS = 60_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** An instance of its own: a pool, a heartbeat every `intervalMs`, the two stores on that pool. */
function instance(url: string, id: string, intervalMs: number) {
  const pool = createPool(url, 'coordination', 2)
  pool.on('error', () => {})
  const registry = new InstanceRegistry({
    pool,
    id,
    hostname: 'test',
    pid: process.pid,
    intervalMs,
    report: () => ({ eventsPerSecond: 0, recordsPerSecond: 0, framesWritten: 0 }),
    log: () => {},
  })
  return { id, pool, registry, jobs: new PgRepoJobStore(pool), ranges: new RangeStore(pool, 'backfill') }
}
type Instance = ReturnType<typeof instance>

/** A job and a range for `holder`, under leases far longer than the test. */
async function holdWork(holder: Instance): Promise<void> {
  await holder.jobs.enqueue([{ did: DID, discoveredVia: 'relay', since: null, active: true, status: null }])
  await holder.ranges.create(RUN, [{ start: 0, end: 100 }], null)
  expect(await holder.jobs.claim(holder.id, 1, LONG_LEASE_MS)).toHaveLength(1)
  expect(await holder.ranges.claim(RUN, holder.id, LONG_LEASE_MS)).not.toBeNull()
}

async function takeWork(by: Instance) {
  return { jobs: (await by.jobs.claim(by.id, 10, LONG_LEASE_MS)).map((j) => j.did), range: await by.ranges.claim(RUN, by.id, LONG_LEASE_MS) }
}

describe('a holder whose heartbeat stopped', () => {
  let db: TestDatabase
  const made: Instance[] = []
  beforeAll(async () => {
    db = await testDatabase()
  })
  afterAll(async () => {
    for (const i of made) await i.registry.stop()
    await Promise.all(made.map((i) => i.pool.end().catch(() => {})))
    await db.drop()
  })

  it('loses its job and its range to another instance once its live time (three heartbeats) has passed, long before their leases run out', async () => {
    const dead = instance(db.url, 'dead', 300)
    const other = instance(db.url, 'other', 300)
    made.push(dead, other)
    await Promise.all([dead.registry.start(), other.registry.start()])
    await holdWork(dead)

    expect(await takeWork(other)).toEqual({ jobs: [], range: null })
    // Its process dies: no more heartbeats (its pool is gone), no release.
    await dead.pool.end()
    expect(await takeWork(other)).toEqual({ jobs: [], range: null })
    await sleep(1000)
    const taken = await takeWork(other)
    expect(taken.jobs).toEqual([DID])
    expect(taken.range).toMatchObject({ start: 0, end: 100, takenFrom: 'dead' })
    // What the others list: the dead one is not live any more.
    await other.registry.beat()
    expect(other.registry.list().map((i) => ({ id: i.id, live: i.live }))).toEqual([
      { id: 'dead', live: false },
      { id: 'other', live: true },
    ])
  })
})

describe('a live holder when the database restarts', () => {
  let cluster: OwnCluster
  let url: string
  const made: Instance[] = []
  beforeAll(async () => {
    cluster = await startOwnCluster()
    url = await cluster.createDatabase()
    const admin = createPool(url, 'admin', 1)
    await migrate(admin)
    await admin.end()
  }, 60_000)
  afterAll(async () => {
    for (const i of made) await i.registry.stop()
    await Promise.all(made.map((i) => i.pool.end().catch(() => {})))
    await cluster?.destroy()
  })

  it('keeps its job and its range while it reconnects, though its heartbeat and its leases are older than their lengths', async () => {
    const live = instance(url, 'live', 200)
    const other = instance(url, 'other', 200)
    made.push(live, other)
    await Promise.all([live.registry.start(), other.registry.start()])
    await live.jobs.enqueue([{ did: DID, discoveredVia: 'relay', since: null, active: true, status: null }])
    await live.ranges.create(RUN, [{ start: 0, end: 100 }], null)
    expect(await live.jobs.claim(live.id, 1, 600)).toHaveLength(1)
    expect(await live.ranges.claim(RUN, live.id, 600)).not.toBeNull()

    // The holder is cut off with the restart and not back yet: neither a heartbeat nor a renewal from it after it.
    await live.pool.end()
    await cluster.stop()
    // Down for longer than the holder's live time (600 ms) and its leases (600 ms).
    await sleep(1200)
    await cluster.start()
    const { rows } = await other.pool.query<{ heartbeat_age_ms: number; lease_age_ms: number }>(
      `SELECT (SELECT extract(epoch FROM now() - last_heartbeat) * 1000 FROM instances WHERE id = 'live') AS heartbeat_age_ms,
              (SELECT extract(epoch FROM now() - lease_until) * 1000 FROM repos WHERE did = $1) AS lease_age_ms`,
      [DID],
    )
    expect(rows[0]).toMatchObject({ heartbeat_age_ms: expect.toSatisfy((ms: number) => ms > 600), lease_age_ms: expect.toSatisfy((ms: number) => ms > 0) })
    expect(await takeWork(other)).toEqual({ jobs: [], range: null })
    // A full live time after the restart without a word from it, it is gone, and its work is taken.
    await sleep(700)
    const taken = await takeWork(other)
    expect(taken.jobs).toEqual([DID])
    expect(taken.range).toMatchObject({ takenFrom: 'live' })
  }, 60_000)
})
