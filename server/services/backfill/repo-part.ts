// The repository part of a backfill run: find the repositories (the relay's and the PDS hosts' listRepos, or the
// operator's BACKFILL_REPOS), then let the repo workers fetch and write them. It ends when every listing has ended
// and every job is done, unavailable or given up on; a restart resumes it from the job table and the listings'
// cursors. Its progress is one snapshot, refreshed at most every few seconds (counting jobs scans the table).
import { isValidHandle } from '@atproto/syntax'
import type { PerHostLimiter, HostSnapshot } from '../../net/host-limiter.js'
import type { FailureView, JobCounts, RepoJobStore } from '../../repos/job-store.js'
import type { ListingSource, RepoLister } from '../../repos/repo-lister.js'
import { RepoWorkers, type RepoWorkerOptions, type RepoWorkersEnd } from '../../repos/repo-worker.js'

export type RepoProgress = {
  /** Jobs by state; `total` is every repository known. */
  jobs: JobCounts
  /** Failed jobs that will be tried again. */
  retrying: number
  /** The listings still being paged, and whether all have ended. */
  listing: { done: boolean; sources: string[]; errors: string[] }
  recordsWritten: number
  recordsPerSecond: number
  /** Repositories finished (done or unavailable) per second, over the last minute. */
  reposPerSecond: number
  etaSeconds: number | null
  /** 0–100: finished repositories of those known. */
  percent: number | null
  hosts: HostSnapshot[]
  parkedHosts: number
  recentFailures: FailureView[]
}

export type RepoPartOptions = {
  store: RepoJobStore
  lister: RepoLister
  sources: ListingSource[]
  /** BACKFILL_REPOS: only these DIDs and handles. */
  only: string[] | null
  /** The handle → DID half of identity, for BACKFILL_REPOS given as handles. */
  resolveHandle: (handle: string) => Promise<string | null>
  since: string | null
  /** Everything the workers need but the end of the listings, which this part knows. */
  workers: Omit<RepoWorkerOptions, 'listingDone'>
  limiter: PerHostLimiter
  log: (line: string) => void
  signal: AbortSignal
}

const REFRESH_MS = 2000
const EMPTY_JOBS: JobCounts = { pending: 0, fetching: 0, done: 0, failed: 0, unavailable: 0, total: 0 }

export class RepoPart {
  private listingDone = false
  private runningNow = false
  private readonly listingErrors: string[] = []
  private snapshot: { jobs: JobCounts; retrying: number; failures: FailureView[]; at: number } | null = null
  private refreshing: Promise<void> | null = null
  private finishedSamples: { at: number; finished: number }[] = []
  readonly workers: RepoWorkers

  constructor(private readonly opts: RepoPartOptions) {
    this.workers = new RepoWorkers({ ...opts.workers, listingDone: () => this.listingDone })
  }

  stop(): void {
    this.workers.stop()
  }

  /** From run() until it ends: this part's workers are the ones fetching. */
  get running(): boolean {
    return this.runningNow
  }

  /** True once every listing has ended (the workers may then finish). */
  get listed(): boolean {
    return this.listingDone
  }

  async run(): Promise<RepoWorkersEnd> {
    this.runningNow = true
    try {
      return await this.runWorkers()
    } finally {
      this.runningNow = false
    }
  }

  private async runWorkers(): Promise<RepoWorkersEnd> {
    const listing = this.list()
      .catch((err: Error) => {
        this.listingErrors.push(err.message)
        this.opts.log(`Repos: listing failed: ${err.message}`)
      })
      .finally(() => {
        this.listingDone = true
      })
    const end = await this.workers.run()
    await listing
    await this.refresh()
    return end
  }

  progress(): RepoProgress {
    if (!this.snapshot || Date.now() - this.snapshot.at > REFRESH_MS) void this.refresh()
    const jobs = this.snapshot?.jobs ?? EMPTY_JOBS
    const workers = this.workers
    const finished = jobs.done + jobs.unavailable
    const reposPerSecond = this.finishRate(finished)
    const left = jobs.pending + jobs.fetching + (this.snapshot?.retrying ?? 0)
    const hosts = this.opts.limiter.snapshot()
    return {
      jobs,
      retrying: this.snapshot?.retrying ?? 0,
      listing: { done: this.listingDone, sources: this.opts.only ? ['BACKFILL_REPOS'] : this.opts.sources.map((s) => s.name), errors: [...this.listingErrors] },
      recordsWritten: workers.records,
      recordsPerSecond: Math.round(workers.rate.perSecond() * 10) / 10,
      reposPerSecond: Math.round(reposPerSecond * 100) / 100,
      etaSeconds: reposPerSecond > 0 && this.listingDone ? Math.round(left / reposPerSecond) : null,
      percent: jobs.total > 0 ? Math.round((finished / jobs.total) * 1000) / 10 : this.listingDone ? 100 : null,
      hosts,
      parkedHosts: hosts.filter((h) => h.parkedUntil !== null).length,
      recentFailures: this.snapshot?.failures ?? [],
    }
  }

  /** Fetches the counts now (the next progress() reads them). */
  async refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const [jobs, retrying, failures] = await Promise.all([
          this.opts.store.counts(),
          this.opts.store.retryingCount(),
          this.opts.store.recentFailures(10),
        ])
        this.snapshot = { jobs, retrying, failures, at: Date.now() }
      } catch {
        // the database is down: the last snapshot stands until it is back
      } finally {
        this.refreshing = null
      }
    })()
    await this.refreshing
  }

  private async list(): Promise<void> {
    const { only, signal } = this.opts
    if (only) {
      const entries = []
      for (const id of only) {
        const did = isValidHandle(id) && !id.startsWith('did:') ? await this.opts.resolveHandle(id) : id
        if (!did) {
          this.listingErrors.push(`BACKFILL_REPOS: the handle ${id} does not resolve to a DID`)
          this.opts.log(`Repos: the handle ${id} in BACKFILL_REPOS does not resolve to a DID; skipped`)
          continue
        }
        entries.push({ did, discoveredVia: 'config', since: this.opts.since, active: true, status: null })
      }
      const added = await this.opts.store.enqueue(entries)
      this.opts.log(`Repos: ${entries.length} repositories from BACKFILL_REPOS (${added} new)`)
      return
    }
    const outcomes = await this.opts.lister.listAll(this.opts.sources, signal)
    for (const o of outcomes) {
      if (o.stopped && o.stopped !== 'aborted') this.listingErrors.push(`${o.source}: ${o.stopped}`)
      this.opts.log(
        `Repos: listing ${o.source} ${o.complete ? 'ended' : `stopped (${o.stopped})`}: ${o.listed} listed in ${o.pages} pages, ` +
          `${o.enqueued} new${o.rejected ? `, ${o.rejected} entries refused` : ''}`,
      )
    }
  }

  /** Repositories finished per second over the last minute of snapshots. */
  private finishRate(finished: number): number {
    const now = Date.now()
    const last = this.finishedSamples[this.finishedSamples.length - 1]
    if (!last || now - last.at >= 1000) this.finishedSamples.push({ at: now, finished })
    this.finishedSamples = this.finishedSamples.filter((s) => s.at >= now - 60_000)
    const first = this.finishedSamples[0]!
    const seconds = (now - first.at) / 1000
    return seconds >= 1 ? Math.max(0, finished - first.finished) / seconds : 0
  }
}
