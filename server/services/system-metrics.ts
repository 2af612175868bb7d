// What the machine pays for the appview: process CPU (percent of one core) and event-loop delay, sampled over a
// sliding second. One sampler per process, shared by the dashboard, /metrics and the governor.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

export type SystemSample = {
  /** Process CPU over the last interval, in percent of one core (200 = two cores busy). */
  cpuPercent: number
  /** Event-loop delay over the last interval, milliseconds. */
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
    this.histogram = monitorEventLoopDelay({ resolution: 10 })
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
    const ms = (ns: number) => Math.round((Number.isFinite(ns) ? ns : 0) / 1e4) / 100
    const h = this.histogram
    const sample: SystemSample = {
      cpuPercent: Math.round((usedUs / elapsedUs) * 1000) / 10,
      loopDelayP50Ms: h.count ? ms(h.percentile(50)) : 0,
      loopDelayP99Ms: h.count ? ms(h.percentile(99)) : 0,
      loopDelayMaxMs: h.count ? ms(h.max) : 0,
      rssMb: Math.round(process.memoryUsage.rss() / 1048576),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
      at: Date.now(),
    }
    h.reset()
    return sample
  }
}
