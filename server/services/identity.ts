// IdentityService: every actor the indexer meets (replay, live firehose, repo backfill) gets its handle verified
// both ways and its PDS from its DID document. It owns the one identity cache of the process, so a repo job and the
// refresher meeting a DID within the TTL resolve it once, and the one identity refresher, which works through the
// actors whose identity_due_at has come (new actors and #identity events make it now) on a pool of its own. Every
// request goes through the per-host limiter shared with the repo work, so PLC and handle hosts are paced too.
import type pg from 'pg'
import { IdentityCache } from '../identity/identity-cache.js'
import { IdentityRefresher, type IdentityCounts } from '../identity/identity-refresher.js'
import { networkIdentityDeps, resolveIdentity, type ResolvedIdentity } from '../identity/resolve-identity.js'
import type { HostLimiter } from '../net/limiter.js'
import { abortableSleep } from '../lib/sleep.js'

// Handles change rarely and #identity events announce most changes as they happen, so the TTL only bounds how long
// a change made without one (a DNS record edited, a domain lapsed) goes unseen: a day.
const TTL_MS = 24 * 60 * 60_000
// A directory or handle host that did not answer is asked again soon, but not so soon that an outage is hammered.
const RETRY_MS = 5 * 60_000
// Resolutions wait on the network, not the CPU; 4 keeps the PLC directory (2 in flight per host by default) and the
// handle hosts busy at once without piling up waiters in the host limiter.
const CONCURRENCY = 4
/** Connections the service needs at most: a result written per resolution in flight, and a claim or a count. */
export const IDENTITY_POOL_SIZE = CONCURRENCY + 1
// Actors claimed per query: at the PLC directory's default pace (BACKFILL_PLC_RATE, 5/s) 50 take ~10 s, well inside
// the refresher's 5-minute claim lease.
const BATCH = 50
// A resolved identity is a few hundred bytes: 50,000 is ~20 MB, room for the DIDs the repo work and the refresher
// meet within a TTL while a backfill lists them, without holding the whole network.
const CACHE_ENTRIES = 50_000
// PLC answers in well under a second; a host still silent after 10 s is having trouble.
const REQUEST_TIMEOUT_MS = 10_000
// progress() is read by every /api/backfill, SSE tick and scrape, and counting scans the actors table.
const PROGRESS_MAX_AGE_MS = 5_000

/** The actors by identity state, as last counted; countedAt is null until the first count has finished. */
export type IdentityProgress = IdentityCounts & { countedAt: string | null }

// Refreshes that finished between an #identity event's commit and the cache forgetting the DID may have used the
// stale cached identity: such a refresh pushed identity_due_at ahead (to its lease or a TTL), so the actor is made
// due again. In the usual case the event's own commit left it due already and nothing changes.
const REDUE_SQL = `
  UPDATE actors SET identity_due_at = now() WHERE did = ANY($1::text[]) AND identity_due_at > now()`

export type IdentityServiceDeps = {
  /** The service's own pool (role 'identity'). */
  pool: pg.Pool
  /** PLC_URL. */
  plcUrl: string
  /** HANDLE_RESOLVER_URL. */
  handleResolverUrl: string | null
  /** ALLOW_PRIVATE_HOSTS. */
  allowPrivate: boolean
  limiter: HostLimiter
  log: (line: string) => void
}

export class IdentityService {
  private readonly shutdown = new AbortController()
  private readonly cache: IdentityCache
  private readonly refresher: IdentityRefresher
  private counts: IdentityProgress = { due: 0, verified: 0, invalid: 0, failed: 0, countedAt: null }
  private counting: Promise<void> | null = null
  private countStartedAt = 0

  constructor(private readonly deps: IdentityServiceDeps) {
    const network = networkIdentityDeps({
      plcUrl: deps.plcUrl,
      handleResolverUrl: deps.handleResolverUrl,
      allowPrivate: deps.allowPrivate,
      timeoutMs: REQUEST_TIMEOUT_MS,
      limiter: deps.limiter,
      signal: this.shutdown.signal,
    })
    this.cache = new IdentityCache((did) => resolveIdentity(did, network), { maxEntries: CACHE_ENTRIES, ttlMs: TTL_MS })
    this.refresher = new IdentityRefresher(
      deps.pool,
      { concurrency: CONCURRENCY, ttlMs: TTL_MS, retryMs: RETRY_MS, batch: BATCH },
      (did) => this.cache.get(did),
      deps.log,
    )
  }

  start(): void {
    this.refresher.start()
    this.recount()
  }

  /**
   * Ends every request in flight and any wait for a parked host (PLC's retry-after can be minutes), so that those
   * waiting on a resolution — repo jobs, the refresher — can stop now; later resolutions fail at once.
   */
  cancelRequests(): void {
    this.shutdown.abort()
  }

  /** Aborts the requests in flight (their claims are given back, due now) and resolves once nothing runs. */
  async stop(): Promise<void> {
    const stopped = this.refresher.stop()
    this.cancelRequests()
    await Promise.all([stopped, this.counting])
  }

  /** The DID's identity, from the cache when resolved within the TTL: where its repository lives and its key. */
  resolve(did: string): Promise<ResolvedIdentity> {
    return this.cache.get(did)
  }

  /** The next resolve(did) asks the network again. */
  invalidate(did: string): void {
    this.cache.invalidate(did)
  }

  /** Makes the refresher look for due actors now instead of at its next poll. */
  wake(): void {
    this.refresher.wake()
  }

  /** For a committed batch whose #identity events changed these DIDs: forget them, and verify them again soon. */
  async identityChanged(dids: readonly string[]): Promise<void> {
    if (dids.length === 0) return
    for (const did of dids) this.invalidate(did)
    await this.deps.pool
      .query(REDUE_SQL, [dids])
      .catch((err: Error) => this.deps.log(`[IDENTITY] making ${dids.length} changed actors due failed: ${err.message}`))
    this.wake()
  }

  /**
   * For the audit's repair: these actors are verified again now, and this resolves once the refresher has written a
   * checked result for each (or after `timeoutMs`, for one whose handle host does not answer).
   */
  async reverify(dids: readonly string[], signal: AbortSignal, timeoutMs = 60_000, pollMs = 250): Promise<void> {
    const since = new Date()
    await this.identityChanged(dids)
    const deadline = Date.now() + timeoutMs
    while (!signal.aborted && Date.now() < deadline) {
      const { rows } = await this.deps.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM actors
         WHERE did = ANY($1::text[]) AND (identity_checked_at IS NULL OR identity_checked_at < $2)`,
        [dids, since],
      )
      if (rows[0]!.n === 0) return
      await abortableSleep(pollMs, signal)
    }
  }

  /** The last counts, recounted in the background when older than a few seconds. */
  progress(): IdentityProgress {
    if (Date.now() - this.countStartedAt >= PROGRESS_MAX_AGE_MS) this.recount()
    return this.counts
  }

  private recount(): void {
    if (this.counting || this.shutdown.signal.aborted) return
    this.countStartedAt = Date.now()
    this.counting = this.refresher
      .counts()
      .then(
        (counts) => {
          this.counts = { ...counts, countedAt: new Date().toISOString() }
        },
        (err: Error) => this.deps.log(`[IDENTITY] counting actors by identity state failed: ${err.message}`),
      )
      .finally(() => {
        this.counting = null
      })
  }
}
