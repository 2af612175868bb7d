// Builds what the repository part of the backfill needs from the configuration: the job store, the listings (the
// relay and BACKFILL_PDS_HOSTS, which the operator chose: trusted addresses), the fetcher (PDS addresses come
// from DID documents: untrusted, behind the address guard unless ALLOW_PRIVATE_HOSTS), one per-host limiter for
// every request, and this instance's name as a lease holder.
import os from 'node:os'
import type pg from 'pg'
import type { Config } from '../../config/index.js'
import { resolveHandle } from '../../identity/handle-resolver.js'
import type { PerHostLimiter } from '../../net/host-limiter.js'
import { safeFetch } from '../../net/safe-fetch.js'
import { PgRepoJobStore } from '../../repos/job-store.js'
import { RepoLister, listingSources } from '../../repos/repo-lister.js'
import { RepoFetcher, type RepoLocation } from '../../repos/repo-fetcher.js'
import type { RepoDeps } from '../backfill.js'

/** Requests to listRepos and for JSON answers: a page of 1000 entries is well under this. */
const JSON_MAX_BYTES = 16 * 1024 * 1024
const REQUEST_TIMEOUT_MS = 30_000
/** A repository's CAR stays in memory up to this, and is spilled to a temp file beyond it. */
export const SPILL_ABOVE_BYTES = 8 * 1024 * 1024
/** The repository work's bookkeeping pool: claims, leases, listings, positions, counts (a few at a time). */
export const REPO_POOL_SIZE = 3
/**
 * Renewed every third of it. A dead instance's jobs are taken over as soon as its heartbeat stops (a few seconds);
 * this bounds a job that a live instance stopped renewing, or one held by a process without an instance row.
 */
export const REPO_LEASE_MS = 30_000

export function createRepoDeps(opts: {
  config: Config
  pool: pg.Pool
  limiter: PerHostLimiter
  locate: (did: string) => Promise<RepoLocation>
  owner: string
  sink: RepoDeps['sink']
}): RepoDeps {
  const { config, pool, limiter } = opts
  const repos = config.backfill.repos
  const store = new PgRepoJobStore(pool)
  const fetchJson = async (url: string, signal: AbortSignal) => {
    const res = await safeFetch(url, { allowPrivate: true, limiter, timeoutMs: REQUEST_TIMEOUT_MS, idleTimeoutMs: REQUEST_TIMEOUT_MS, maxBytes: JSON_MAX_BYTES, signal })
    if (res.status !== 200) {
      res.cancel()
      throw new Error(`${new URL(url).host} answered ${res.status} to ${new URL(url).pathname}`)
    }
    return res.json()
  }
  return {
    store,
    db: pool,
    sink: opts.sink,
    lister: (since) => new RepoLister(pool, { store, fetchJson, since }),
    sources: listingSources(config.relayUrl, repos.pdsHosts),
    only: repos.only,
    resolveHandle: (handle) =>
      resolveHandle(handle, {
        handleResolverUrl: repos.handleResolverUrl,
        allowPrivate: repos.allowPrivateHosts,
        timeoutMs: REQUEST_TIMEOUT_MS,
        limiter,
      }),
    fetcher: new RepoFetcher({
      locate: opts.locate,
      limiter,
      parkedFor: (host) => limiter.parkedFor(host),
      allowPrivate: repos.allowPrivateHosts,
      maxCarBytes: repos.maxCarBytes,
      maxRecordBytes: repos.maxRecordBytes,
      spillDir: os.tmpdir(),
      spillAboveBytes: SPILL_ABOVE_BYTES,
      verify: config.backfill.decoder === 'verified',
      timeoutMs: repos.requestTimeoutMs,
    }),
    limiter,
    concurrency: repos.concurrency,
    owner: opts.owner,
    leaseMs: REPO_LEASE_MS,
  }
}
