// Events per second over a sliding window. Memory: at most one sample per second of the window.
export class RateMeter {
  private readonly samples: { at: number; before: number }[] = []
  private total = 0

  constructor(private readonly windowMs = 10_000) {}

  add(n: number, now = Date.now()): void {
    const last = this.samples[this.samples.length - 1]
    if (!last || now - last.at >= 1000) this.samples.push({ at: now, before: this.total })
    this.total += n
    this.trim(now)
  }

  perSecond(now = Date.now()): number {
    this.trim(now)
    const first = this.samples[0]
    if (!first) return 0
    return ((this.total - first.before) * 1000) / Math.max(1000, now - first.at)
  }

  private trim(now: number): void {
    while (this.samples.length && this.samples[0]!.at < now - this.windowMs) this.samples.shift()
  }
}
