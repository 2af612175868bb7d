// Child process for the big-repo test: reads a CAR file through openRepoCar and walks it, measuring what the
// walk adds to memory (RSS and heap, sampled every chunk and every 5 ms) and how long it holds the event loop,
// apart from the test runner's own memory. Prints one JSON line: ProbeResult.
//   node --expose-gc --import tsx test/support/walk-memory-probe.ts '<ProbeInput JSON>'
import { createReadStream } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { openRepoCar } from '../../server/repos/repo-car.js'

export type ProbeInput = { file: string; did: string; verifyKey: string; spillDir: string; spillAboveBytes: number; chunkRecords: number }

export type ProbeResult = {
  records: number
  rejects: number
  sorted: boolean
  spilled: boolean
  baselineRssMb: number
  peakRssMb: number
  baselineHeapMb: number
  peakHeapMb: number
  readMs: number
  walkMs: number
  /** event-loop delay during the walk alone (the read before it is measured apart) */
  walkLoopDelayMs: { p50: number; p99: number; max: number }
  readLoopDelayMaxMs: number
}

const input = JSON.parse(process.argv[2]) as ProbeInput
const ms = (ns: number) => Math.round(ns / 1e5) / 10
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10
;(globalThis as { gc?: () => void }).gc?.()
const baseline = process.memoryUsage()
let peakRss = baseline.rss
let peakHeap = baseline.heapUsed
const sample = () => {
  const now = process.memoryUsage()
  peakRss = Math.max(peakRss, now.rss)
  peakHeap = Math.max(peakHeap, now.heapUsed)
}
const sampler = setInterval(sample, 5)
const loop = monitorEventLoopDelay({ resolution: 1 })
loop.enable()

const t0 = performance.now()
const car = await openRepoCar(createReadStream(input.file, { highWaterMark: 64 * 1024 }), {
  did: input.did,
  maxCarBytes: 1024 * 1024 * 1024,
  spillDir: input.spillDir,
  spillAboveBytes: input.spillAboveBytes,
  verifyKey: input.verifyKey,
  partial: false,
})
const t1 = performance.now()
const readLoopDelayMaxMs = Math.round(loop.max / 1e6)
loop.reset()
let records = 0
let rejects = 0
let sorted = true
let previous = ''
try {
  for await (const chunk of car.walk({ time: new Date().toISOString(), chunkRecords: input.chunkRecords })) {
    for (const item of chunk) {
      if (item.kind !== 'create') {
        rejects++
        continue
      }
      records++
      const key = `${item.collection}/${item.rkey}`
      if (key <= previous) sorted = false
      previous = key
    }
    sample()
  }
} finally {
  await car.close()
}
const t2 = performance.now()
clearInterval(sampler)
loop.disable()
const result: ProbeResult = {
  records,
  rejects,
  sorted,
  spilled: car.spilled,
  baselineRssMb: mb(baseline.rss),
  peakRssMb: mb(peakRss),
  baselineHeapMb: mb(baseline.heapUsed),
  peakHeapMb: mb(peakHeap),
  readMs: Math.round(t1 - t0),
  walkMs: Math.round(t2 - t1),
  walkLoopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
  readLoopDelayMaxMs,
}
process.stdout.write(`${JSON.stringify(result)}\n`)
