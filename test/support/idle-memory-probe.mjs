// Loaded with --import ahead of tsx into a server under test (test/e2e/idle-memory.test.ts): records which packages
// the server resolves, and on SIGUSR2 writes to IDLE_PROBE_OUT what an idle server holds: those packages, Node's
// source-map setting, V8's heap limit, and the heap in use after a full collection (needs --expose-gc). The server's
// worker threads (the API thread) load this probe too, ahead of their own entry, and answer for their own heap
// and packages when asked. Plain JavaScript, so that it registers before tsx and sees every import of the server.
import { writeFileSync } from 'node:fs'
import nodeModule from 'node:module'
import v8 from 'node:v8'
import workerThreads from 'node:worker_threads'

const SERVER_DIR = new URL('../../server/', import.meta.url).pathname
const ASK = 'idle-probe'
const ANSWER = 'idle-probe-report'

const packages = new Set()
nodeModule.registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context)
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)
    if (m) packages.add(m[1])
    return resolved
  },
})

function weigh() {
  globalThis.gc()
  return { packages: [...packages].sort(), heapUsedMb: Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10 }
}

if (workerThreads.isMainThread) {
  const workers = new Set()
  const Original = workerThreads.Worker
  // Only the server's own threads (their entry in server/): libraries start workers too (esbuild, under tsx, for
  // its synchronous calls), and one of those loading tsx in turn would wait on itself.
  const ours = (entry) => new URL(entry, 'file:///').pathname.startsWith(SERVER_DIR)
  workerThreads.Worker = class ProbedWorker extends Original {
    constructor(entry, options = {}) {
      if (!ours(entry)) {
        super(entry, options)
        return
      }
      super(entry, { ...options, execArgv: ['--import', import.meta.url, ...(options.execArgv ?? [])] })
      workers.add(this)
      this.once('exit', () => workers.delete(this))
    }
  }
  // The server imports Worker as an ES module binding: make it see the class above.
  nodeModule.syncBuiltinESMExports()

  const askWorker = (worker) =>
    new Promise((resolve) => {
      const onMessage = (message) => {
        if (message?.type !== ANSWER) return
        worker.off('message', onMessage)
        resolve(message.report)
      }
      worker.on('message', onMessage)
      worker.postMessage({ type: ASK })
    })

  process.on('SIGUSR2', async () => {
    const threads = await Promise.all([...workers].map(askWorker))
    const report = {
      ...weigh(),
      sourceMaps: nodeModule.getSourceMapsSupport(),
      heapLimitMb: Math.round(v8.getHeapStatistics().heap_size_limit / 1048576),
      threads,
    }
    writeFileSync(process.env.IDLE_PROBE_OUT, JSON.stringify(report))
  })
} else {
  const port = workerThreads.parentPort
  const onMessage = (message) => {
    if (message?.type === ASK) port.postMessage({ type: ANSWER, report: weigh() })
  }
  port.on('message', onMessage)
  // Listening must not keep the thread alive when its own code is done with the port.
  port.unref()
}
