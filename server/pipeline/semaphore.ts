// Counts database operations in flight (invariant 5). Waiters are served first come, first served; the queue of
// waiters is bounded by the pipeline itself, which has at most one dispatch waiting at a time.
export class Semaphore {
  private inUse = 0
  private peak = 0
  private readonly waiters: (() => void)[] = []

  constructor(private permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new Error(`semaphore needs at least 1 permit, got ${permits}`)
  }

  get active(): number {
    return this.inUse
  }

  get limit(): number {
    return this.permits
  }

  /** The most permits ever held at once: what a test reads to prove the bound held. */
  get highWater(): number {
    return this.peak
  }

  /** Changing the limit takes effect as permits are released; permits already held are never revoked. */
  setLimit(permits: number): void {
    this.permits = Math.max(1, Math.floor(permits))
    this.wake()
  }

  async acquire(): Promise<void> {
    if (this.inUse < this.permits && this.waiters.length === 0) {
      this.take()
      return
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  release(): void {
    if (this.inUse === 0) throw new Error('semaphore released more often than acquired')
    this.inUse--
    this.wake()
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire()
    try {
      return await task()
    } finally {
      this.release()
    }
  }

  private take(): void {
    this.inUse++
    this.peak = Math.max(this.peak, this.inUse)
  }

  private wake(): void {
    while (this.inUse < this.permits && this.waiters.length > 0) {
      this.take()
      this.waiters.shift()!()
    }
  }
}
