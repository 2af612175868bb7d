// The adaptive governor (BACKFILL_PROFILE=adaptive): each second it compares the process's CPU use and event-loop
// delay with their budgets and adjusts batch size and the delay between batches, to use the budget fully and no
// more. The decision is a pure function of the measurements (`governorStep`), unit-tested with numbers.
//
// Why both knobs: the delay sets the duty cycle (how much of each second the backfill works), the batch size sets
// efficiency (per-batch overhead is amortised over more events) but also how long one synchronous stretch of work
// keeps the event loop, which is what the lag budget limits.
import type { ThrottleSettings } from '../config/profiles.js'
import type { BatchObservation, Throttle, ThrottleBudget } from './throttle.js'

export type GovernorBudget = ThrottleBudget
/** What the governor reads each second; the process's system metrics provide it. */
export type GovernorSample = {
  /** Process CPU over the last interval, in percent of one core. */
  cpuPercent: number
  /** Event-loop delay p99 over the last interval, milliseconds. */
  loopDelayP99Ms: number
}
export type GovernorKnobs = { batchSize: number; batchDelayMs: number }
export type GovernorLimits = { minBatch: number; maxBatch: number; maxDelayMs: number }

export const GOVERNOR_LIMITS: GovernorLimits = { minBatch: 10, maxBatch: 1000, maxDelayMs: 10_000 }

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))

/**
 * One control step. Over the lag budget: smaller batches and a longer pause. Over the CPU budget: a longer pause
 * in proportion to the overshoot. Under budget: a shorter pause, and once there is none, bigger batches. Whenever
 * it pauses and the loop has lag to spare, batch and pause grow together: the same rate at a lower cost per event
 * (per-batch work is amortised), so the same CPU budget buys more events.
 */
export function governorStep(
  knobs: GovernorKnobs,
  m: GovernorSample,
  budget: GovernorBudget,
  limits: GovernorLimits = GOVERNOR_LIMITS,
): GovernorKnobs {
  let { batchSize, batchDelayMs } = knobs
  const cpu = Math.max(m.cpuPercent, 0.1)
  if (m.loopDelayP99Ms > budget.maxLagMs) {
    batchSize = Math.floor(batchSize * 0.7)
    batchDelayMs = batchDelayMs * 1.3 + 5
  } else if (cpu > budget.maxCpuPercent * 1.05) {
    batchDelayMs = batchDelayMs * Math.min(2, cpu / budget.maxCpuPercent) + 5
  } else if (cpu < budget.maxCpuPercent * 0.95) {
    if (batchDelayMs > 1) batchDelayMs *= Math.max(0.5, cpu / budget.maxCpuPercent)
    else {
      batchDelayMs = 0
      batchSize = Math.ceil(batchSize * 1.25)
    }
  }
  if (batchDelayMs > 20 && batchSize < limits.maxBatch && m.loopDelayP99Ms <= budget.maxLagMs / 2) {
    batchSize = Math.ceil(batchSize * 1.25)
    batchDelayMs *= 1.25
  }
  return {
    batchSize: clamp(Math.round(batchSize), limits.minBatch, limits.maxBatch),
    batchDelayMs: clamp(Math.round(batchDelayMs), 0, limits.maxDelayMs),
  }
}

export type AdaptiveThrottleOptions = {
  base: ThrottleSettings
  /** Knobs the operator set explicitly stay fixed. */
  fixed: { batchSize?: boolean; batchDelayMs?: boolean }
  budget: GovernorBudget
  sample: () => GovernorSample
  log: (line: string) => void
  stepMs?: number
}

export class AdaptiveThrottle implements Throttle {
  private knobs: GovernorKnobs
  private lastStepAt = 0
  private lastLogged: GovernorKnobs
  private lastLogAt = 0
  private lastSample: GovernorSample = { cpuPercent: 0, loopDelayP99Ms: 0 }

  constructor(private readonly opts: AdaptiveThrottleOptions) {
    this.knobs = { batchSize: opts.base.batchSize, batchDelayMs: opts.base.batchDelayMs }
    this.lastLogged = this.knobs
  }

  current(): ThrottleSettings {
    this.maybeStep()
    return { ...this.opts.base, ...this.knobs }
  }

  observe(_: BatchObservation): void {
    this.maybeStep()
  }

  describe(): string {
    const b = this.opts.budget
    return `adaptive: batch ${this.knobs.batchSize}, delay ${this.knobs.batchDelayMs} ms; budget ${b.maxCpuPercent}% CPU, ${b.maxLagMs} ms lag; using ${this.lastSample.cpuPercent}% CPU, ${this.lastSample.loopDelayP99Ms} ms lag`
  }

  budget(): ThrottleBudget {
    return this.opts.budget
  }

  private maybeStep(): void {
    const now = Date.now()
    if (now - this.lastStepAt < (this.opts.stepMs ?? 1000)) return
    this.lastStepAt = now
    const sample = this.opts.sample()
    this.lastSample = { cpuPercent: sample.cpuPercent, loopDelayP99Ms: sample.loopDelayP99Ms }
    const next = governorStep(this.knobs, sample, this.opts.budget)
    this.knobs = {
      batchSize: this.opts.fixed.batchSize ? this.knobs.batchSize : next.batchSize,
      batchDelayMs: this.opts.fixed.batchDelayMs ? this.knobs.batchDelayMs : next.batchDelayMs,
    }
    this.logIfChanged(now)
  }

  /** One line when the knobs moved by a quarter or more, and at most one every 10 s. */
  private logIfChanged(now: number): void {
    const moved = (a: number, b: number) => Math.abs(a - b) > Math.max(a, b) * 0.25 + 1
    if (now - this.lastLogAt < 10_000) return
    if (!moved(this.knobs.batchSize, this.lastLogged.batchSize) && !moved(this.knobs.batchDelayMs, this.lastLogged.batchDelayMs)) return
    this.lastLogAt = now
    this.lastLogged = this.knobs
    this.opts.log(
      `Governor: batch ${this.knobs.batchSize}, delay ${this.knobs.batchDelayMs} ms (CPU ${this.lastSample.cpuPercent}% of ${this.opts.budget.maxCpuPercent}% budget, lag p99 ${this.lastSample.loopDelayP99Ms} ms of ${this.opts.budget.maxLagMs} ms)`,
    )
  }
}
