// A Postgres cluster of the test's own (embedded, own data directory and port), so a test can stop and restart it
// under a running server without touching the cluster every other test shares.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { startEmbeddedPostgres, type EmbeddedPg } from '../../../server/db/embedded.js'
import { freePort, withDatabase } from '../../harness/postgres.js'

export type OwnCluster = {
  /** The admin URL (database `postgres`). */
  adminUrl: string
  port: number
  readonly running: boolean
  /** A fresh, empty database on this cluster (the server migrates it on start). */
  createDatabase(): Promise<string>
  /** Stops the postmaster (SIGINT: fast shutdown, every connection is cut) and waits for it to exit. */
  stop(): Promise<void>
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>
}

export async function startOwnCluster(): Promise<OwnCluster> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-faults-pg-'))
  // The postmaster runs as an unprivileged user when the tests run as root; it must be able to reach its data.
  await fs.chmod(root, 0o755)
  const dataDir = path.join(root, 'pg')
  const port = await freePort()
  let handle: EmbeddedPg | null = await startEmbeddedPostgres({ dataDir, port, log: () => {} })
  const adminUrl = handle.url
  let n = 0
  return {
    adminUrl,
    port,
    get running() {
      return handle !== null
    },
    async createDatabase() {
      const name = `faults_${process.pid}_${++n}`
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      return withDatabase(adminUrl, name)
    },
    async stop() {
      const h = handle
      handle = null
      await h?.stop()
    },
    async start() {
      if (handle) return
      handle = await startEmbeddedPostgres({ dataDir, port, log: () => {} })
    },
    async destroy() {
      const h = handle
      handle = null
      await h?.stop()
      await fs.rm(root, { recursive: true, force: true })
    },
  }
}
