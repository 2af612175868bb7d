// Two instances on one database, both with the live firehose on, against Bluesky's reference PDS: exactly one indexes
// it while the other stands by; SIGKILL the one that indexes and the other takes over within seconds from the
// committed cursor, so that what is written on the PDS afterwards all arrives; a lock connection that is cut stops
// indexing until the lock is held again. The cursor only ever moves forward.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FirehoseStatus } from '../../server/services/firehose-status.js'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { seedWorkload } from '../harness/seed.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'
import { until } from '../support/backfill.js'
import { compareWithPds, expectDatabaseEqualsPds } from '../support/compare.js'

let pds: PdsHandle
let db: TestDatabase
let pool: pg.Pool
const servers: ServerProcess[] = []

beforeAll(async () => {
  ;[pds, db] = await Promise.all([startPds(), testDatabase()])
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
  await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 20, seed: 5 })
  // The live firehose starts from its committed cursor: here the PDS's first event, so everything on it is indexed.
  await pool.query(`INSERT INTO cursors (name, seq) VALUES ('firehose', 0)`)
}, 120_000)

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL')
  await Promise.all(servers.map((s) => s.exited))
  await pool?.end()
  await db?.drop()
  await pds?.stop()
})

async function startInstance(id: string): Promise<{ id: string; server: ServerProcess; url: string }> {
  const port = await freePort()
  const server = spawnServer({
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    PORT: String(port),
    RELAY_URL: pds.url,
    FIREHOSE_ENABLED: 'true',
    INSTANCE_ID: id,
  })
  servers.push(server)
  await server.waitForLine(/\[SERVER\] listening/)
  return { id, server, url: `http://127.0.0.1:${port}` }
}

async function firehoseStatus(url: string): Promise<FirehoseStatus> {
  return (await (await fetch(`${url}/api/firehose`)).json()) as FirehoseStatus
}

async function equalsPds(): Promise<boolean> {
  return (await compareWithPds(pool, await dumpPdsRepos(pds.url))).length === 0
}

describe('one live firehose among instances', () => {
  it('one indexes, the other stands by and takes over within seconds of a SIGKILL; nothing written is lost', async () => {
    const instances = await Promise.all([startInstance('alpha'), startInstance('beta')])
    let statuses: FirehoseStatus[] = []
    // Settled: one is live, and the other has asked since (every 2 s) and knows who.
    await until(
      async () => {
        statuses = await Promise.all(instances.map((i) => firehoseStatus(i.url)))
        return statuses.some((s) => s.state === 'live') && statuses.every((s) => s.holder !== null)
      },
      20_000,
      'one instance live, the other standing by',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(statuses)}\n${instances.map((i) => i.server.lines.join('\n')).join('\n---\n')}`)
    })
    const liveIndex = statuses.findIndex((s) => s.state === 'live')
    const [holder, other] = [instances[liveIndex]!, instances[1 - liveIndex]!]
    expect(statuses.map((s) => ({ state: s.state, holder: s.holder }))).toEqual(
      instances.map((i) => ({ state: i === holder ? 'live' : 'standby', holder: holder.id })),
    )

    const cursors: number[] = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await pool.query<{ seq: string }>(`SELECT seq FROM cursors WHERE name = 'firehose'`)
        cursors.push(Number(rows[0]!.seq))
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    try {
      await until(equalsPds, 30_000, 'the seeded repos indexed')

      holder.server.kill('SIGKILL')
      const killedAt = Date.now()
      const writes = seedWorkload(pds.url, { accounts: 2, actionsPerAccount: 15, seed: 6, firstIndex: 100 })
      await other.server.waitForLine(/Holding the live firehose lock as/, 15_000)
      expect(Date.now() - killedAt).toBeLessThan(10_000)
      await writes
      await until(equalsPds, 30_000, 'the writes made after the kill indexed')
      expect(await firehoseStatus(other.url)).toMatchObject({ state: 'live', holder: other.id })

      // The survivor's lock connection is cut, as a database restart cuts it: it stops, then holds the lock again.
      const { rows } = await pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
        [`skyfill-lock ${other.id}`],
      )
      expect(rows).toHaveLength(1)
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid])
      await other.server.waitForLine(/Lost the live firehose lock/, 10_000)
      await until(() => other.server.lines.filter((l) => /Holding the live firehose lock/.test(l)).length === 2, 10_000, 'the lock held again')
      await seedWorkload(pds.url, { accounts: 1, actionsPerAccount: 10, seed: 7, firstIndex: 200 })
      await until(equalsPds, 30_000, 'the writes made after the lock came back indexed')
      await expectDatabaseEqualsPds(pool, await dumpPdsRepos(pds.url))
    } finally {
      sampling = false
      await sampler
    }
    expect(cursors.length).toBeGreaterThan(10)
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b))
  }, 120_000)
})
