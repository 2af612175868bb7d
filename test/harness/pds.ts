// Runs Bluesky's reference PDS + PLC (@atproto/dev-env) in a child process
// (test/harness/pds-child.ts), on 127.0.0.1 and ephemeral ports, with its data
// in a temp dir that is removed when the child stops.
//
//   const pds = await startPds()
//   ... pds.url (http://127.0.0.1:port), pds.plcUrl ...
//   await pds.stop()
//
// A second PDS on the same network registers its accounts on the first one's
// PLC, under a handle domain of its own:
//   const pds2 = await startPds({ plcUrl: pds.plcUrl, handleDomain: '.pds2.test' })
//
// No orphans: the child exits when its stdin pipe closes (i.e. when this
// process dies, however it dies) and when it gets re-parented; this process
// also SIGKILLs every live child from an 'exit' hook.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { IdResolver } from '@atproto/identity'
import type { ChildOptions, ChildReady } from './pds-child.js'

export type StartPdsOptions = {
  /**
   * PDS `repoBackfillLimitMs`: how old an event a firehose cursor may replay.
   * The PDS default (1 day) silently skips older history; default here ~100 years.
   */
  repoBackfillLimitMs?: number
  /** fail if the child is not ready within this time (default 60 s) */
  startTimeoutMs?: number
  /**
   * Turn on the PDS's own (pino) logging and forward the child's stdout/stderr
   * to this process's stderr. Default false (stderr is still kept for errors).
   */
  log?: boolean
  /** fixed ports instead of ephemeral ones */
  pdsPort?: number
  plcPort?: number
  /** run only a PDS, registering DIDs with this (running) PLC directory */
  plcUrl?: string
  /**
   * The PDS's handle domain, e.g. '.pds2.test' (must end in '.test'); handles
   * are then user1.pds2.test. Default '.test'. PDSes on one PLC need distinct ones.
   */
  handleDomain?: string
}

export type PdsHandle = {
  /** http://127.0.0.1:port: XRPC, and ws://…/xrpc/com.atproto.sync.subscribeRepos */
  url: string
  /** http://127.0.0.1:port of the PLC directory the PDS registers DIDs with */
  plcUrl: string
  /**
   * The PDS's public URL as written into DID documents' #atproto_pds service
   * (http://localhost:port; localhost resolves to 127.0.0.1 here).
   */
  publicUrl: string
  /** firehose endpoint base, ws://127.0.0.1:port */
  wsUrl: string
  /** the domain its account handles end in ('.test' unless startPds was given another) */
  handleDomain: string
  pid: number
  dataDir: string
  /** spawn → ready, measured in this process */
  startupMs: number
  /** graceful: closes PDS and PLC, waits for the child to exit, removes data. Idempotent. */
  stop(): Promise<void>
  /** SIGKILL the child now; the data dir is removed once it has exited. Idempotent. */
  kill(): void
  /** resolves when the child has exited (for any reason) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const CHILD_PATH = fileURLToPath(new URL('./pds-child.ts', import.meta.url))
const REPO_ROOT = path.resolve(path.dirname(CHILD_PATH), '..', '..')
const HUNDRED_YEARS_MS = 100 * 365 * 24 * 60 * 60 * 1000
const STOP_GRACE_MS = 10_000

type Live = { child: ChildProcessWithoutNullStreams; dataDir: string }
const live = new Set<Live>()
let exitHookInstalled = false

const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const l of live) {
      try {
        l.child.kill('SIGKILL')
      } catch {
        // already gone
      }
      rmSync(l.dataDir, { recursive: true, force: true })
    }
  })
}

const childExecArgs = (): string[] => {
  // Node 22.18+ strips types natively: no loader hook, ~1.5 s faster start than tsx.
  const features = process.features as { typescript?: string | false }
  return features.typescript ? ['--disable-warning=ExperimentalWarning'] : ['--import', 'tsx']
}

const childEnv = (opts: ChildOptions, log: boolean): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    // keep the child's PDS config and module loading independent of ours
    if (k.startsWith('PDS_') || k === 'NODE_OPTIONS' || k.startsWith('LOG_')) continue
    env[k] = v
  }
  env.SKYFILL_PDS_CHILD = JSON.stringify(opts)
  env.LOG_ENABLED = log ? 'true' : 'false'
  // V8 code cache for the PDS's ~2k modules: shaves ~0.5-1 s off each start.
  env.NODE_COMPILE_CACHE ??= path.join(os.tmpdir(), 'skyfill-node-compile-cache')
  return env
}

export async function startPds(options: StartPdsOptions = {}): Promise<PdsHandle> {
  const t0 = performance.now()
  const log = options.log ?? false
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-pds-'))
  const childOpts: ChildOptions = {
    dataDir,
    repoBackfillLimitMs: options.repoBackfillLimitMs ?? HUNDRED_YEARS_MS,
    pdsPort: options.pdsPort,
    plcPort: options.plcPort,
    plcUrl: options.plcUrl,
    handleDomain: options.handleDomain,
  }
  installExitHook()
  const child = spawn(process.execPath, [...childExecArgs(), CHILD_PATH], {
    cwd: REPO_ROOT,
    env: childEnv(childOpts, log),
    stdio: ['pipe', 'pipe', 'pipe'],
    // A process group of its own: a terminal's Ctrl-C (`npm run demo`) reaches only the parent, which stops what
    // reads from the PDS first and the PDS last. The orphan guard (stdin) still ends it if the parent dies.
    detached: true,
  })
  const entry: Live = { child, dataDir }
  live.add(entry)

  const stderrTail: string[] = []
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    if (log) process.stderr.write(chunk)
    stderrTail.push(chunk)
    while (stderrTail.length > 50) stderrTail.shift()
  })
  child.stdin.on('error', () => {}) // EPIPE if the child died first

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(entry)
      rmSync(dataDir, { recursive: true, force: true })
      resolve({ code, signal })
    })
  })

  const ready = await new Promise<ChildReady>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout })
    const timeoutMs = options.startTimeoutMs ?? 60_000
    const fail = (msg: string) => {
      clearTimeout(timer)
      rl.close()
      child.kill('SIGKILL')
      reject(new Error(`${msg}\n--- pds child stderr ---\n${stderrTail.join('')}`))
    }
    const timer = setTimeout(() => fail(`PDS child not ready after ${timeoutMs} ms`), timeoutMs)
    rl.on('line', (line) => {
      let msg: Partial<ChildReady> | undefined
      try {
        msg = line.startsWith('{') ? (JSON.parse(line) as Partial<ChildReady>) : undefined
      } catch {
        msg = undefined
      }
      if (msg?.skyfillPdsReady) {
        clearTimeout(timer)
        child.removeListener('exit', onEarlyExit)
        // keep draining stdout (PDS logs, if enabled) so the child never blocks
        rl.removeAllListeners('line')
        rl.on('line', (l) => {
          if (log) process.stderr.write(`[pds] ${l}\n`)
        })
        resolve(msg as ChildReady)
      } else if (log) {
        process.stderr.write(`[pds] ${line}\n`)
      }
    })
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`PDS child exited before ready (code ${code}, signal ${signal})`)
    child.once('exit', onEarlyExit)
    child.once('error', (err) => fail(`failed to spawn PDS child: ${err.message}`))
  })
  const startupMs = Math.round(performance.now() - t0)

  // Don't let a forgotten PDS keep this process alive: the 'exit' hook kills it.
  child.unref()
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    ;(s as unknown as { unref?: () => void }).unref?.()
  }

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end('stop\n')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
        await exited
        clearTimeout(timer)
      }
      await exited
      rmSync(dataDir, { recursive: true, force: true })
    })()
    return stopping
  }
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }

  return {
    url: ready.url,
    plcUrl: ready.plcUrl,
    publicUrl: ready.publicUrl,
    wsUrl: ready.url.replace(/^http/, 'ws'),
    handleDomain: options.handleDomain ?? '.test',
    pid: ready.pid,
    dataDir,
    startupMs,
    stop,
    kill,
    exited,
  }
}

/**
 * An IdResolver for the harness network: DIDs from the harness PLC over plain
 * fetch (the default fetch is SSRF-protected and refuses 127.0.0.1), handles
 * (*.test has no DNS) via the PDS's com.atproto.identity.resolveHandle.
 */
export function harnessIdResolver(pds: { url: string; plcUrl: string }, opts: { timeout?: number } = {}): IdResolver {
  const resolver = new IdResolver({ plcUrl: pds.plcUrl, fetch: globalThis.fetch, timeout: opts.timeout ?? 3000 })
  resolver.handle.resolve = async (handle: string) => {
    const url = new URL('/xrpc/com.atproto.identity.resolveHandle', pds.url)
    url.searchParams.set('handle', handle)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(opts.timeout ?? 3000) })
      if (!res.ok) return undefined
      const body = (await res.json()) as { did?: unknown }
      return typeof body.did === 'string' ? body.did : undefined
    } catch {
      return undefined
    }
  }
  return resolver
}
