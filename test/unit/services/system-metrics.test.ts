// The event-loop delay the dashboard, /metrics and the governor read must be the loop's lateness: 0 when idle,
// the length of the blocking when something holds the loop. The old reading carried the histogram timer's 10 ms
// into every statistic, p50 included; p99 also counts the times the OS leaves the process waiting for a core,
// which on a busy machine is real delay of a few ms, so the bounds on it leave room for that.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { type SystemSample, SystemMetrics } from '../../../server/services/system-metrics.js'

const INTERVAL_MS = 1000

let metrics: SystemMetrics | undefined

afterEach(() => metrics?.stop())

/** One full sampling interval of the sampler, with `during` running meanwhile. */
async function sampleWhile(during: () => () => void): Promise<SystemSample> {
  metrics = new SystemMetrics(INTERVAL_MS).start()
  const stop = during()
  await sleep(INTERVAL_MS * 1.2)
  stop()
  const sample = metrics.sample()
  console.log(`loop delay p50 ${sample.loopDelayP50Ms} ms, p99 ${sample.loopDelayP99Ms} ms, max ${sample.loopDelayMaxMs} ms`)
  return sample
}

function busyFor(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until);
}

describe('event-loop delay', () => {
  it('reads under 2 ms on an idle loop, not the 10 ms of its own timer', async () => {
    const sample = await sampleWhile(() => () => {})
    // p50 only: the tail also counts time spent waiting for a core, which other test files running beside this one
    // on a 2-core machine make as long as they like. The timer's own 10 ms showed at every percentile.
    expect(sample.loopDelayP50Ms).toBeLessThan(2)
  })

  it('reads about 50 ms at p99 on a loop blocked 50 ms every 100 ms, and little at p50', async () => {
    const sample = await sampleWhile(() => {
      const timer = setInterval(() => busyFor(50), 100)
      return () => clearInterval(timer)
    })
    expect(sample.loopDelayP99Ms).toBeGreaterThanOrEqual(40)
    // an upper bound against a wrong unit or a doubled interval, loose enough for a busy machine
    expect(sample.loopDelayP99Ms).toBeLessThan(500)
    expect(sample.loopDelayMaxMs).toBeGreaterThanOrEqual(sample.loopDelayP99Ms)
    expect(sample.loopDelayP50Ms).toBeLessThan(2)
  })
})
