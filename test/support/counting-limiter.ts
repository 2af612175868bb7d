// A HostLimiter that grants every permit at once and records what happened to each, so a test can prove that
// every permit taken was given back exactly once and with which outcome.
import type { HostLimiter, HostPermit, RequestOutcome } from '../../server/net/limiter.js'

export type PermitRecord = { host: string; releases: RequestOutcome[] }

export class CountingLimiter implements HostLimiter {
  readonly permits: PermitRecord[] = []

  async acquire(host: string, signal?: AbortSignal): Promise<HostPermit> {
    signal?.throwIfAborted()
    const record: PermitRecord = { host, releases: [] }
    this.permits.push(record)
    return { release: (outcome) => void record.releases.push(outcome) }
  }

  /** Permits released a number of times other than once (should be none). */
  get misreleased(): PermitRecord[] {
    return this.permits.filter((p) => p.releases.length !== 1)
  }

  /** The status each permit was released with, in order of acquisition. */
  get statuses(): (number | null)[] {
    return this.permits.map((p) => p.releases[0]?.status ?? null)
  }
}
