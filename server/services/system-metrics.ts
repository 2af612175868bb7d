// What the machine pays for the appview: process CPU (percent of one core) and event-loop delay, sampled over a
// sliding second. One sampler per process, shared by the dashboard, /metrics and the governor.
//
// monitorEventLoopDelay records the whole time between two callbacks of its own repeating timer, so an idle loop
// reads the timer's resolution (10 ms), not 0. What a request waits for is the excess over that interval: every
// reading here is the histogram's minus the resolution, never below 0 (libuv's millisecond clock can fire the
// timer a little early). A finer resolution would shrink the offset but not remove it, at more wakeups.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

/** The delay histogram's timer interval, milliseconds: the offset taken off every reading. */
export const LOOP_DELAY_RESOLUTION_MS = 10

export type SystemSample = {
  /** Process CPU over the last interval, in percent of one core (200 = two cores busy). */
  cpuPercent: number
  /** Event-loop delay over the last interval, milliseconds: how late a callback due now runs (0 on an idle loop). */
  loopDelayP50Ms: number
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  rssMb: number
  heapUsedMb: number
  at: number
}

export class SystemMetrics {
  private readonly histogram: IntervalHistogram
  private timer: NodeJS.Timeout | null = null
  private lastCpu = process.cpuUsage()
  private lastAt = performance.now()
  private latest: SystemSample

  constructor(private readonly intervalMs = 1000) {
    this.histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS })
    this.latest = this.read()
  }

  start(): this {
    this.histogram.enable()
    this.timer = setInterval(() => {
      this.latest = this.read()
    }, this.intervalMs)
    this.timer.unref()
    return this
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.histogram.disable()
  }

  sample(): SystemSample {
    return this.latest
  }

  private read(): SystemSample {
    const now = performance.now()
    const cpu = process.cpuUsage()
    const elapsedUs = Math.max(1, (now - this.lastAt) * 1000)
    const usedUs = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system)
    this.lastCpu = cpu
    this.lastAt = now
    const h = this.histogram
    const sample: SystemSample = {
      cpuPercent: Math.round((usedUs / elapsedUs) * 1000) / 10,
      loopDelayP50Ms: h.count ? lateMs(h.percentile(50)) : 0,
      loopDelayP99Ms: h.count ? lateMs(h.percentile(99)) : 0,
      loopDelayMaxMs: h.count ? lateMs(h.max) : 0,
      rssMb: Math.round(process.memoryUsage.rss() / 1048576),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
      at: Date.now(),
    }
    h.reset()
    return sample
  }
}

/** A histogram reading (nanoseconds between timer callbacks) as lateness in milliseconds, to 0.01 ms. */
function lateMs(intervalNs: number): number {
  const ms = (Number.isFinite(intervalNs) ? intervalNs : 0) / 1e6 - LOOP_DELAY_RESOLUTION_MS
  return Math.max(0, Math.round(ms * 100) / 100)
}
