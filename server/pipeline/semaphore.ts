// Counts database operations in flight (invariant 5). Waiters are served first come, first served. The limit is
// read from its owner (the throttle, through a function) each time a permit is granted, so a throttle that lowers
// it takes effect as permits come back and nobody else ever re-limits the semaphore.
export class Semaphore {
  private inUse = 0
  private peak = 0
  private readonly waiters: (() => void)[] = []
  private readonly limitOf: () => number

  constructor(limit: number | (() => number)) {
    this.limitOf = typeof limit === 'number' ? () => limit : limit
    const initial = this.limitOf()
    if (!Number.isInteger(initial) || initial < 1) throw new Error(`semaphore needs at least 1 permit, got ${initial}`)
  }

  get active(): number {
    return this.inUse
  }

  get limit(): number {
    return Math.max(1, Math.floor(this.limitOf()))
  }

  /** The most permits ever held at once: what a test reads to prove the bound held. */
  get highWater(): number {
    return this.peak
  }

  /** How many are waiting for a permit. */
  get waiting(): number {
    return this.waiters.length
  }

  async acquire(): Promise<void> {
    if (this.inUse < this.limit && this.waiters.length === 0) {
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
    while (this.inUse < this.limit && this.waiters.length > 0) {
      this.take()
      this.waiters.shift()!()
    }
  }
}
