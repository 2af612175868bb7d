// Runs `server/index.ts` as its own process, as `npm start` does, for tests that kill it (SIGKILL) or read its logs.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { SERVER_ENTRY_ARGS } from '../../server/entry-args.js'
import { freePort } from './postgres.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export type ServerProcess = {
  proc: ChildProcess
  lines: string[]
  /** Resolves with the first line matching, or rejects after timeoutMs (with the output so far). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kill(signal?: NodeJS.Signals): void
}

/** @param nodeArgs node options ahead of SERVER_ENTRY_ARGS (a probe to load first, --expose-gc). */
export function spawnServer(env: Record<string, string>, nodeArgs: string[] = []): ServerProcess {
  const proc = spawn(process.execPath, [...nodeArgs, ...SERVER_ENTRY_ARGS], {
    cwd: ROOT,
    // Only what the test gives, plus PATH: no stray BACKFILL_* from the developer's shell.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const listeners = new Set<() => void>()
  let partial = ''
  const onData = (chunk: Buffer) => {
    partial += chunk.toString('utf8')
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    for (const l of listeners) l()
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      for (const l of listeners) l()
      resolve({ code, signal })
    }),
  )
  const stopOnExit = () => proc.kill('SIGKILL')
  process.once('exit', stopOnExit)
  exited.then(() => process.off('exit', stopOnExit))
  return {
    proc,
    lines,
    exited,
    kill: (signal = 'SIGKILL') => {
      proc.kill(signal)
    },
    waitForLine(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((l) => pattern.test(l))
          if (found) {
            cleanup()
            resolve(found)
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            cleanup()
            reject(new Error(`server exited before printing ${pattern}:\n${lines.join('\n')}`))
          }
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-40).join('\n')}`))
        }, timeoutMs)
        const cleanup = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        listeners.add(check)
        check()
      })
    },
  }
}

/** An instance among several on one database: its id, its process and its HTTP base. */
export type ServerInstance = { id: string; server: ServerProcess; url: string }

/** One server process per id, on loopback, each on a free port with INSTANCE_ID set, sharing everything in `env`. */
export async function spawnInstances(ids: readonly string[], env: Record<string, string>): Promise<ServerInstance[]> {
  const instances: ServerInstance[] = []
  for (const id of ids) {
    const port = await freePort()
    instances.push({ id, server: spawnServer({ HOST: '127.0.0.1', ...env, PORT: String(port), INSTANCE_ID: id }), url: `http://127.0.0.1:${port}` })
  }
  return instances
}
