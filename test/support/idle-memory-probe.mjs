// Loaded with --import ahead of tsx into a server under test (test/e2e/idle-memory.test.ts): records which packages
// the server resolves, and on SIGUSR2 writes to IDLE_PROBE_OUT what an idle server holds: those packages, Node's
// source-map setting, V8's heap limit, and the heap in use after a full collection (needs --expose-gc). Plain JavaScript, so that it
// registers before tsx and sees every import of the server.
import { writeFileSync } from 'node:fs'
import nodeModule from 'node:module'
import v8 from 'node:v8'

const packages = new Set()
nodeModule.registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context)
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)
    if (m) packages.add(m[1])
    return resolved
  },
})

process.on('SIGUSR2', () => {
  globalThis.gc()
  const report = {
    packages: [...packages].sort(),
    sourceMaps: nodeModule.getSourceMapsSupport(),
    heapLimitMb: Math.round(v8.getHeapStatistics().heap_size_limit / 1048576),
    heapUsedMb: Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10,
  }
  writeFileSync(process.env.IDLE_PROBE_OUT, JSON.stringify(report))
})
