// Resolved identities kept for a while, so that a repo job and the identity refresher meeting the same DID within
// the TTL resolve it once, and two asking at the same moment share one resolution. Bounded: at most `maxEntries`,
// the least recently used going first. Failures are not kept, nor results whose handle check is to be retried.
// invalidate(did) is for #identity events: the next get resolves afresh, and a resolution already under way when
// the event came is not stored.
import type { ResolvedIdentity } from './resolve-identity.js'

export type IdentityCacheOptions = {
  maxEntries: number
  ttlMs: number
  /** Milliseconds now (default Date.now). */
  now?: () => number
}

type Entry = { identity: ResolvedIdentity; expiresAt: number }

export class IdentityCache {
  private readonly entries = new Map<string, Entry>()
  private readonly inFlight = new Map<string, Promise<ResolvedIdentity>>()
  private readonly now: () => number

  constructor(
    private readonly resolve: (did: string) => Promise<ResolvedIdentity>,
    private readonly opts: IdentityCacheOptions,
  ) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1) {
      throw new Error(`identity cache needs maxEntries of at least 1, got ${opts.maxEntries}`)
    }
    this.now = opts.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  async get(did: string): Promise<ResolvedIdentity> {
    const entry = this.entries.get(did)
    if (entry && entry.expiresAt > this.now()) {
      // Map order is the LRU order: move the entry to the end.
      this.entries.delete(did)
      this.entries.set(did, entry)
      return entry.identity
    }
    if (entry) this.entries.delete(did)
    const pending = this.inFlight.get(did)
    if (pending) return pending
    const resolution = this.resolve(did).then(
      (identity) => {
        if (this.inFlight.get(did) === resolution) {
          this.inFlight.delete(did)
          if (!identity.retryable) this.store(did, identity)
        }
        return identity
      },
      (err: unknown) => {
        if (this.inFlight.get(did) === resolution) this.inFlight.delete(did)
        throw err
      },
    )
    this.inFlight.set(did, resolution)
    return resolution
  }

  invalidate(did: string): void {
    this.entries.delete(did)
    this.inFlight.delete(did)
  }

  private store(did: string, identity: ResolvedIdentity): void {
    this.entries.set(did, { identity, expiresAt: this.now() + this.opts.ttlMs })
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
  }
}
