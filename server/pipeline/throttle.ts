// What the pipeline asks before each batch: how big, how long to wait after it, how many writes at once, whether
// to yield to the event loop. A static throttle answers from configuration; the governor and the schedule
// (issue: performance) answer from measurements and the clock behind the same interface.
import type { ThrottleSettings } from '../config/profiles.js'

export type BatchObservation = { frames: number; writeMs: number }

export interface Throttle {
  current(): ThrottleSettings
  /** Tells the throttle how a batch went, for throttles that adapt. */
  observe(observation: BatchObservation): void
  /** A short label for logs and the dashboard, e.g. 'background' or 'adaptive (batch 120, delay 40 ms)'. */
  describe(): string
  /** The resource budget the throttle steers by, when it steers by one (the adaptive governor). */
  budget(): ThrottleBudget | null
}

export type ThrottleBudget = { maxCpuPercent: number; maxLagMs: number }

export class StaticThrottle implements Throttle {
  constructor(
    private readonly settings: ThrottleSettings,
    private readonly label: string,
  ) {}

  current(): ThrottleSettings {
    return this.settings
  }

  observe(): void {}

  describe(): string {
    return this.label
  }

  budget(): null {
    return null
  }
}
