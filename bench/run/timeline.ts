// A mode over time, for its picture (svg.ts): every second, the frames its servers have committed (GET
// /api/backfill, summed over the instances), their CPU time and resident memory (/proc). Rates are differences
// between consecutive samples, so a late sample widens its interval instead of inventing a spike.
import { getJson, type Progress } from './measure.js'
import { cpuSeconds, processMemory } from './proc.js'

export type TimelineSample = { t: number; processed: number; cpuSeconds: number; rssMb: number }

/** Columns of equal length, one entry per interval between two samples (at its end). */
export type Timeline = {
  everyMs: number
  /** Seconds since the mode's server(s) were spawned. */
  t: number[]
  eventsPerSecond: number[]
  /** The server processes together, percent of one core. */
  serverCpuPercent: number[]
  /** The server processes together. */
  rssMb: number[]
  /** The measurement window, in the same seconds; null when it did not run. */
  window: { from: number; to: number } | null
}

const round1 = (v: number) => Math.round(v * 10) / 10

export function timelineFrom(samples: readonly TimelineSample[], everyMs: number, window: Timeline['window']): Timeline {
  const out: Timeline = { everyMs, t: [], eventsPerSecond: [], serverCpuPercent: [], rssMb: [], window }
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]
    const b = samples[i]
    const dt = b.t - a.t
    if (dt <= 0) continue
    out.t.push(round1(b.t))
    out.eventsPerSecond.push(Math.round(Math.max(0, b.processed - a.processed) / dt))
    out.serverCpuPercent.push(round1((Math.max(0, b.cpuSeconds - a.cpuSeconds) / dt) * 100))
    out.rssMb.push(round1(b.rssMb))
  }
  return out
}

export class TimelineSampler {
  private readonly samples: TimelineSample[] = []
  private timer: NodeJS.Timeout | null = null
  private busy = false
  private windowFrom: number | null = null
  private windowTo: number | null = null

  constructor(
    private readonly pids: readonly number[],
    /** The servers' base URLs (none for a mode without a backfill: its rate is 0). */
    private readonly urls: readonly string[],
    private readonly spawnedAt: number,
    private readonly everyMs = 1000,
  ) {}

  start(): this {
    void this.sample()
    this.timer = setInterval(() => void this.sample(), this.everyMs)
    return this
  }

  private now(): number {
    return (performance.now() - this.spawnedAt) / 1000
  }

  beginWindow(): void {
    this.windowFrom = this.now()
  }

  endWindow(): void {
    this.windowTo = this.now()
  }

  private async sample(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      const progress = await Promise.all(this.urls.map((u) => getJson<Progress>(`${u}/api/backfill`, 2000)))
      let cpu = 0
      let rss = 0
      for (const pid of this.pids) {
        cpu += cpuSeconds(pid) ?? 0
        rss += processMemory(pid)?.rssMb ?? 0
      }
      this.samples.push({ t: this.now(), processed: progress.reduce((n, p) => n + p.counts.processed, 0), cpuSeconds: cpu, rssMb: rss })
    } catch {
      // A sample the server did not answer in time is a gap in the picture, not a zero.
    } finally {
      this.busy = false
    }
  }

  stop(): Timeline {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    const window = this.windowFrom !== null ? { from: round1(this.windowFrom), to: round1(this.windowTo ?? this.now()) } : null
    return timelineFrom(this.samples, this.everyMs, window)
  }
}
