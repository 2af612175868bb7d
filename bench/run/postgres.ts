// One embedded Postgres cluster for a whole bench run, with its own data directory under bench/out/, and a fresh
// database per mode. The cluster is the same package and settings the server uses by default (server/db/embedded.ts).
import { readFileSync } from 'node:fs'
import pg from 'pg'
import { startEmbeddedPostgres } from '../../server/db/embedded.js'
import { freePort, withDatabase } from '../../test/harness/postgres.js'

export { freePort }

export const DB_PREFIX = 'skyfill_bench_'

export type BenchCluster = {
  adminUrl: string
  dataDir: string
  version: string
  /** The postmaster's pid (for its CPU time); null if it cannot be read. */
  postmasterPid(): number | null
  urlFor(database: string): string
  /** A new, empty database (the server migrates it on start). `template`: a copy of that database instead. */
  createDatabase(name: string, template?: string): Promise<string>
  dropDatabase(name: string): Promise<void>
  stop(): Promise<void>
}

const quoteIdent = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${name}`)
  return `"${name}"`
}

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'skyfill-bench' })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export async function startCluster(dataDir: string, log: (line: string) => void): Promise<BenchCluster> {
  const port = await freePort()
  const embedded = await startEmbeddedPostgres({ dataDir, port, log })
  const adminUrl = embedded.url
  const version = await admin(adminUrl, async (c) => {
    // Databases a previous, interrupted run left behind.
    const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${DB_PREFIX}%`])
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`)
    return (await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v
  })
  return {
    adminUrl,
    dataDir,
    version,
    postmasterPid() {
      try {
        const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0])
        return Number.isInteger(pid) && pid > 0 ? pid : null
      } catch {
        return null
      }
    },
    urlFor: (database) => withDatabase(adminUrl, database),
    async createDatabase(name, template) {
      await admin(adminUrl, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)
        await c.query(`CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`)
      })
      return withDatabase(adminUrl, name)
    },
    async dropDatabase(name) {
      await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`))
    },
    stop: () => embedded.stop(),
  }
}
