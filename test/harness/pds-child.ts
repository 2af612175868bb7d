// Child process entry: runs Bluesky's reference PDS + PLC (from @atproto/dev-env)
// bound to 127.0.0.1 on ephemeral ports; or, given the URL of a running PLC,
// only a PDS that registers its accounts there (several PDSes, one network). Spawned by test/harness/pds.ts as
//   node test/harness/pds-child.ts            (Node 22's built-in type stripping)
//   node --import tsx test/harness/pds-child.ts  (fallback)
// so this file must stay erasable-syntax-only TypeScript (no enums, no
// parameter properties, no relative imports).
// Options come in as JSON in the SKYFILL_PDS_CHILD env var (see ChildOptions).
// When ready it prints exactly one line to stdout: `{"skyfillPdsReady":true,...}`.
// Shuts down (and removes its data dir) on SIGTERM/SIGINT/SIGHUP, on a "stop"
// line on stdin, or when stdin closes / the parent disappears (orphan guard).
import { rmSync } from 'node:fs'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'

export type ChildOptions = {
  /** directory owned by the parent; the child creates data/ and blobs/ under it */
  dataDir: string
  /** how far back the firehose replays from an old cursor (PDS repoBackfillLimitMs) */
  repoBackfillLimitMs: number
  /** fixed ports (0 / absent = ephemeral) */
  pdsPort?: number
  plcPort?: number
  /** an existing PLC directory to register with; no PLC is started then */
  plcUrl?: string
  /** the PDS's one handle domain (e.g. '.pds2.test'); absent: dev-env's default, '.test' */
  handleDomain?: string
}

export type ChildReady = {
  skyfillPdsReady: true
  url: string
  plcUrl: string
  /** the PDS's public URL as written into DID documents (http://localhost:port) */
  publicUrl: string
  pdsPort: number
  plcPort: number
  pid: number
  dataDir: string
  /** total child start-up, and the part of it spent loading modules */
  startupMs: number
  importMs: number
}

const HOST = '127.0.0.1'
const t0 = performance.now()

// Neither the PDS nor the PLC server lets us choose a bind address (both call
// `app.listen(port)`, which binds every interface). Default any listen() in this
// process that names no host to loopback.
const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function patchedListen(this: net.Server, ...args: unknown[]) {
  const [first, second] = args
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof second !== 'string') args.splice(1, 0, HOST)
  } else if (first && typeof first === 'object' && !('fd' in first) && !('handle' in first) && !('_handle' in first)) {
    const o = first as net.ListenOptions
    if (o.path === undefined && o.host === undefined) args[0] = { ...o, host: HOST }
  }
  return (origListen as (...a: unknown[]) => net.Server).apply(this, args)
} as typeof net.Server.prototype.listen

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, HOST, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })

// The package index also loads the AppView, Ozone, bsync... (~2 s of module
// loading we don't need). Load only the PDS+PLC network class from its dist
// directory, falling back to the index if the layout ever changes.
type DevEnv = typeof import('@atproto/dev-env')
type DevEnvParts = Pick<DevEnv, 'TestNetworkNoAppView' | 'TestPds' | 'mockNetworkUtilities'>
const loadDevEnv = async (): Promise<DevEnvParts> => {
  const indexUrl = import.meta.resolve('@atproto/dev-env')
  try {
    const load = async (file: string) => (await import(new URL(file, indexUrl).href)) as Partial<DevEnv>
    const [net, pds, util] = await Promise.all([load('./network-no-appview.js'), load('./pds.js'), load('./util.js')])
    if (
      typeof net.TestNetworkNoAppView === 'function' &&
      typeof pds.TestPds === 'function' &&
      typeof util.mockNetworkUtilities === 'function'
    ) {
      return {
        TestNetworkNoAppView: net.TestNetworkNoAppView,
        TestPds: pds.TestPds,
        mockNetworkUtilities: util.mockNetworkUtilities,
      }
    }
  } catch {
    // fall through
  }
  return await import('@atproto/dev-env')
}

const opts = JSON.parse(process.env.SKYFILL_PDS_CHILD ?? 'null') as ChildOptions | null
if (!opts?.dataDir) {
  process.stderr.write('pds-child: SKYFILL_PDS_CHILD env var (JSON ChildOptions) is required\n')
  process.exit(2)
}

type Closable = { close(): Promise<void> }
let network: Closable | undefined
let shuttingDown = false

const removeData = () => {
  try {
    rmSync(opts.dataDir, { recursive: true, force: true })
  } catch {
    // best effort; the parent removes it again after exit
  }
}

const shutdown = async (code: number, reason: string) => {
  if (shuttingDown) return
  shuttingDown = true
  // Never hang on shutdown: hard exit after a grace period.
  setTimeout(() => {
    removeData()
    process.exit(code)
  }, 5_000).unref()
  try {
    await network?.close()
  } catch (err) {
    process.stderr.write(`pds-child: error closing network (${reason}): ${String(err)}\n`)
  }
  removeData()
  process.exit(code)
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(sig, () => void shutdown(0, sig))
}
// Orphan guard 1: the parent holds our stdin pipe; EOF means it went away.
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk: string) => {
  if (chunk.split('\n').some((l) => l.trim() === 'stop')) void shutdown(0, 'stop command')
})
process.stdin.on('end', () => void shutdown(0, 'stdin closed'))
process.stdin.on('error', () => void shutdown(0, 'stdin error'))
// Orphan guard 2: if we get re-parented, the original parent is gone.
const parentPid = process.ppid
setInterval(() => {
  if (process.ppid !== parentPid) void shutdown(0, 'parent exited')
}, 1_000).unref()

process.on('uncaughtException', (err) => {
  process.stderr.write(`pds-child: uncaught exception: ${err?.stack ?? String(err)}\n`)
  void shutdown(1, 'uncaughtException')
})
process.on('unhandledRejection', (err) => {
  process.stderr.write(`pds-child: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`)
})

const main = async () => {
  const dataDirectory = path.join(opts.dataDir, 'data')
  const blobstoreDiskLocation = path.join(opts.dataDir, 'blobs')
  await fs.mkdir(dataDirectory, { recursive: true })
  await fs.mkdir(blobstoreDiskLocation, { recursive: true })
  const plcPort = opts.plcUrl ? Number(new URL(opts.plcUrl).port) : opts.plcPort || (await freePort())
  const pdsPort = opts.pdsPort || (await freePort())
  const { TestNetworkNoAppView, TestPds, mockNetworkUtilities } = await loadDevEnv()
  const tImported = performance.now()
  if (shuttingDown) return
  const pdsConfig = {
    port: pdsPort,
    dataDirectory,
    blobstoreDiskLocation,
    repoBackfillLimitMs: opts.repoBackfillLimitMs,
    ...(opts.handleDomain ? { serviceHandleDomains: [opts.handleDomain] } : {}),
  }
  let publicUrl: string
  if (opts.plcUrl) {
    // what TestNetworkNoAppView does for its PDS, without starting a PLC of its own. By name, as TestPlc's own URL
    // is: the PDS's DID resolver refuses IP-address hosts ("Invalid hostname"), so describeRepo would fail.
    const didPlcUrl = `http://localhost:${plcPort}`
    const pds = await TestPds.create({ didPlcUrl, ...pdsConfig })
    mockNetworkUtilities(pds)
    network = pds
    publicUrl = pds.ctx.cfg.service.publicUrl
  } else {
    const testNet = await TestNetworkNoAppView.create({ plc: { port: plcPort }, pds: pdsConfig })
    network = testNet
    publicUrl = testNet.pds.ctx.cfg.service.publicUrl
  }
  if (shuttingDown) {
    await network.close().catch(() => {})
    return
  }
  const ready: ChildReady = {
    skyfillPdsReady: true,
    url: `http://${HOST}:${pdsPort}`,
    plcUrl: opts.plcUrl ?? `http://${HOST}:${plcPort}`,
    publicUrl,
    pdsPort,
    plcPort,
    pid: process.pid,
    dataDir: opts.dataDir,
    startupMs: Math.round(performance.now() - t0),
    importMs: Math.round(tImported - t0),
  }
  process.stdout.write(JSON.stringify(ready) + '\n')
}

main().catch((err) => {
  process.stderr.write(`pds-child: failed to start: ${(err as Error)?.stack ?? String(err)}\n`)
  void shutdown(1, 'start failure')
})
