// The server under test as a child process, started exactly as `npm start` runs it (node with SERVER_ENTRY_ARGS:
// server/node-options.env, then --import tsx server/index.ts), so the child's pid is the node process itself and /proc/<pid> measures the server alone.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { SERVER_ENTRY_ARGS } from '../../server/entry-args.js'
import { ROOT } from './paths.js'

export type ServerChild = {
  pid: number
  proc: ChildProcess
  /** The last lines of output (stdout and stderr), for error messages. */
  tail(n?: number): string
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  isRunning(): boolean
  /** SIGTERM (the server finishes in-flight writes), then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>
}

const live = new Set<ChildProcess>()

/** Kills every server child still running; safe to call from an 'exit' handler (synchronous). */
export function killAllServers(): void {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
}

export function spawnServer(env: Record<string, string>, logPath: string, nodeArgs: string[] = []): ServerChild {
  const proc = spawn(process.execPath, [...nodeArgs, ...SERVER_ENTRY_ARGS], {
    cwd: ROOT,
    // Only what the bench sets, plus PATH and HOME: no stray BACKFILL_* from the shell.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (proc.pid === undefined) throw new Error('could not start the server process')
  live.add(proc)
  const log: WriteStream = createWriteStream(logPath)
  const lines: string[] = []
  const waiters = new Set<() => void>()
  let partial = ''
  const spawnedAt = performance.now()
  const onData = (chunk: Buffer) => {
    partial += chunk.toString('utf8')
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    const stamp = ((performance.now() - spawnedAt) / 1000).toFixed(2).padStart(8)
    for (const line of parts) {
      // Seconds since the spawn, so the log shows where start-up time goes.
      log.write(`${stamp} ${line}\n`)
      lines.push(line)
      if (lines.length > 400) lines.splice(0, lines.length - 200)
    }
    for (const w of waiters) w()
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  let running = true
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      running = false
      live.delete(proc)
      if (partial) log.write(`${partial}\n`)
      log.end()
      for (const w of waiters) w()
      resolve({ code, signal })
    }),
  )
  const tail = (n = 30) => lines.slice(-n).join('\n')
  return {
    pid: proc.pid,
    proc,
    tail,
    exited,
    isRunning: () => running,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        let seen = 0
        const check = () => {
          for (; seen < lines.length; seen++) {
            const m = pattern.exec(lines[seen])
            if (m) return done(() => resolve(m))
          }
          if (!running) done(() => reject(new Error(`the server exited before printing ${pattern}; its last output:\n${tail()}`)))
        }
        const timer = setTimeout(
          () => done(() => reject(new Error(`the server printed nothing matching ${pattern} within ${timeoutMs / 1000} s; its last output:\n${tail()}`))),
          timeoutMs,
        )
        const done = (settle: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          settle()
        }
        waiters.add(check)
        check()
      })
    },
    async stop(graceMs = 15_000) {
      if (!running) return
      proc.kill('SIGTERM')
      const killed = setTimeout(() => proc.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(killed)
    },
  }
}
