// Real Postgres for tests: TEST_DATABASE_URL when set, else one embedded cluster per `npm test` run. Every test
// gets its own database cloned from a migrated template, so tests never share state.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs/promises'
import pg from 'pg'
import { startEmbeddedPostgres, type EmbeddedPg } from '../../server/db/embedded.js'
import { createPool } from '../../server/db/pools.js'
import { migrate } from '../../server/db/migrate.js'

export const TEMPLATE_DB = 'skyfill_test_template'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** Starts (or adopts) the cluster and builds the migrated template. Returns the admin URL and a stop function. */
export async function startTestPostgres(): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  let embedded: EmbeddedPg | null = null
  let dataDir: string | null = null
  let adminUrl = process.env.TEST_DATABASE_URL
  if (!adminUrl) {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-test-pg-'))
    await fs.chmod(dataDir, 0o755)
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pg'), port: await freePort(), log: () => {} })
    adminUrl = embedded.url
  }
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`)
  await admin.end()
  const templatePool = createPool(withDatabase(adminUrl, TEMPLATE_DB), 'admin', 1)
  await migrate(templatePool)
  await templatePool.end()
  return {
    adminUrl,
    async stop() {
      await embedded?.stop()
      if (dataDir) await fs.rm(dataDir, { recursive: true, force: true })
    },
  }
}

export type TestDatabase = { url: string; name: string; drop(): Promise<void> }

/** A fresh, migrated database of its own for one test (or one test file). */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `skyfill_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`)
  } finally {
    await admin.end()
  }
  return {
    url: withDatabase(adminUrl, name),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        // A pool a test is still ending closes its connections within milliseconds: FORCE reaching one of them first
        // fails a client that has no 'error' listener left (an uncaught 57P01 in the run). Wait for those, briefly.
        for (let i = 0; i < 20; i++) {
          const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [name])
          if (rows[0]!.n === 0) break
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}
