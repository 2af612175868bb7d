// The database a process works on, migrated: DATABASE_URL, or else the embedded Postgres under PG_DATA_DIR. A tool
// run beside a server (`npm run audit`) attaches to the embedded Postgres that server already runs rather than
// starting its own, which would stop the server's as one left behind.
import pg from 'pg'
import type { Config } from '../config/index.js'
import { embeddedUrl, startEmbeddedPostgres, type EmbeddedPg } from './embedded.js'
import { describeFirstContact } from './errors.js'
import { migrate } from './migrate.js'
import { createPool } from './pools.js'

export type OpenDatabase = { url: string; /** Ours to stop: null with DATABASE_URL, or attached to a server's. */ embedded: EmbeddedPg | null }

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

export async function openDatabase(config: Config, log: (line: string) => void, options: { attach?: boolean } = {}): Promise<OpenDatabase> {
  let embedded: EmbeddedPg | null = null
  let url = config.databaseUrl
  if (!url && options.attach && (await answers(embeddedUrl(config.embeddedPg.port)))) {
    url = embeddedUrl(config.embeddedPg.port)
    log(`[DB] using the embedded Postgres already running on 127.0.0.1:${config.embeddedPg.port}`)
  }
  if (!url) {
    embedded = await startEmbeddedPostgres({ ...config.embeddedPg, log })
    url = embedded.url
    log(`[DB] embedded Postgres on 127.0.0.1:${config.embeddedPg.port}, data in ${config.embeddedPg.dataDir}`)
  }
  const adminPool = createPool(url, 'admin', 1)
  try {
    const applied = await migrate(adminPool)
    if (applied.length) log(`[DB] applied migrations: ${applied.join(', ')}`)
  } catch (err) {
    await embedded?.stop()
    throw config.databaseUrl ? describeFirstContact('DATABASE_URL', config.databaseUrl, err) : err
  } finally {
    await adminPool.end()
  }
  return { url, embedded }
}
