// The history behind the dashboard's events/s chart, kept at all times rather than only while a page watches, so a
// page opened late (or after the backfill completed) shows the last minutes. A ring buffer sampled once a second
// from what the services already expose (their progress and status), nothing of their internals.
//
// Series: the replay's events/s, the live firehose's events/s, and the repository work's records/s. Adding one: its
// name in RateSeries and its reader in serviceRates(); the history, the SSE `history` event and the chart carry
// every series by name.

export type RateSeries = 'backfill' | 'firehose' | 'repos'

/** One sample: when, and each series' rate per second at that moment. */
export type RatePoint = { at: number } & Record<RateSeries, number>

export type RateReader = () => Record<RateSeries, number>

/** The rates of the running services, as their public progress reports them. */
export function serviceRates(
  backfill: { getProgress(): { eventsPerSecond: number; repos: { recordsPerSecond: number } | null } },
  firehose: { getStatus(): { eventsPerSecond: number } } | null,
): RateReader {
  return () => {
    const progress = backfill.getProgress()
    return {
      backfill: progress.eventsPerSecond,
      firehose: firehose?.getStatus().eventsPerSecond ?? 0,
      repos: progress.repos?.recordsPerSecond ?? 0,
    }
  }
}

export type RateHistoryOptions = {
  /** Samples kept (default 600: ten minutes at one a second). */
  capacity?: number
  intervalMs?: number
  now?: () => number
}

export class RateHistory {
  private readonly ring: RatePoint[] = []
  private next = 0
  private timer: NodeJS.Timeout | null = null
  private readonly capacity: number
  private readonly intervalMs: number
  private readonly now: () => number

  constructor(
    private readonly read: RateReader,
    options: RateHistoryOptions = {},
  ) {
    this.capacity = options.capacity ?? 600
    this.intervalMs = options.intervalMs ?? 1000
    this.now = options.now ?? Date.now
  }

  start(): this {
    this.timer ??= setInterval(() => this.sample(), this.intervalMs)
    this.timer.unref()
    return this
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Takes one sample now, overwriting the oldest once full. */
  sample(): void {
    const point: RatePoint = { at: this.now(), ...this.read() }
    if (this.ring.length < this.capacity) this.ring.push(point)
    else this.ring[this.next] = point
    this.next = (this.next + 1) % this.capacity
  }

  /** Every sample kept, oldest first. */
  points(): RatePoint[] {
    return this.ring.length < this.capacity ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)]
  }
}
