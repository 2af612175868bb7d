// BackfillService: replays the firehose from a window's start up to the head it found at start, as a background
// task. This file is the wiring and the state machine; planning the window (backfill/plan-window.ts, once per run
// whatever the number of instances: backfill/plan-lock.ts), replaying it in seq ranges that every instance on the
// database claims (backfill/range-replay.ts, range-store.ts), the progress view (backfill/progress.ts) and the
// longer log lines (backfill/log-lines.ts) live beside it, and the moving parts in ../pipeline. Pauses are owned by
// the intake gate: the operator, a database outage and the memory watchdog all report to it, and the state shown is
// derived from it.
//
// States: idle → locating → running ⇄ paused | throttled → complete | failed.
import type pg from 'pg'
import type { BackfillConfig } from '../config/index.js'
import { createConsumer } from '../pipeline/consumer.js'
import type { FrameDecoder } from '../pipeline/decoder/types.js'
import type { CursorStore } from '../pipeline/cursor-store.js'
import { IntakeGate } from '../pipeline/gate.js'
import { Semaphore } from '../pipeline/semaphore.js'
import type { BatchSink } from '../pipeline/sink.js'
import { sourceEventLine, type SourceEvent } from '../pipeline/source.js'
import type { Throttle } from '../pipeline/throttle.js'
import { heapLimitMb, MemoryWatchdog, rssMb } from '../pipeline/watchdog.js'
import { RateMeter } from '../pipeline/rate.js'
import { RetryingWriter } from '../pipeline/write-retry.js'
import type { PerHostLimiter } from '../net/host-limiter.js'
import type { RepoJobStore } from '../repos/job-store.js'
import type { ListingSource, RepoLister } from '../repos/repo-lister.js'
import type { RepoFetcher } from '../repos/repo-fetcher.js'
import { configLines, progressLine, repoProgressLine } from './backfill/log-lines.js'
import { RepoPart } from './backfill/repo-part.js'
import { RepoWorkers, type RepoWorkerOptions } from '../repos/repo-worker.js'
import { ResyncScheduler, checkAll, markResyncFailed, markResynced, queueResync, syncStateCounts, type SyncStateCounts } from '../repos/resync-scheduler.js'
import { abortableSleep } from '../lib/sleep.js'
import { resyncDeletes } from '../repos/resync-deletes.js'
import { planWindowUntilReachable } from './backfill/plan-window.js'
import { tombstoneHorizon } from '../indexer/tombstone-prune.js'
import { withPlanLock } from './backfill/plan-lock.js'
import { RangeReplay } from './backfill/range-replay.js'
import { splitWindow } from './backfill/range-split.js'
import type { RangeStore } from './backfill/range-store.js'
import type { InstanceView } from './instance-registry.js'
import { createProbe } from './backfill/probe.js'
import { backfillProgress, type BackfillProgress, type RunState } from './backfill/progress.js'
import type { IdentityProgress } from './identity.js'
import { sourceConnection } from './source-connection.js'
import { sameRun, type RunMeta } from './backfill/run-state.js'
import { ServiceLog } from './log.js'

export type { BackfillProgress, BackfillState } from './backfill/progress.js'

/** What the repository part needs: the job table, the listings, the fetcher and the hosts' limits. */
export type RepoDeps = {
  store: RepoJobStore
  /** The backfill's pool: positions, resync deletes. */
  db: pg.Pool
  /** Where repository records are written (rejects say 'repos'), on the backfill's pool. */
  sink: BatchSink
  /** A lister for one run: every job it enqueues fetches what changed after `since` (null: all). */
  lister: (since: string | null) => RepoLister
  sources: ListingSource[]
  only: string[] | null
  resolveHandle: (handle: string) => Promise<string | null>
  fetcher: RepoFetcher
  limiter: PerHostLimiter
  concurrency: number
  /** This instance, as a lease holder. */
  owner: string
  leaseMs: number
}

const EMPTY_SYNC: SyncStateCounts = { active: 0, desynchronized: 0, resyncing: 0, error: 0, total: 0 }

export type BackfillDeps = {
  config: BackfillConfig
  relay: string
  /** The backfill's own pool (invariant 6: never the API's), whose use is shown. */
  pool: pg.Pool
  /** Where batches are written: a writer on that same pool. */
  sink: BatchSink
  /** The run and its cursor: the lowest seq below which every range of the window is written. */
  cursors: CursorStore<RunMeta>
  /** The window's seq ranges, shared with every instance on the database; each range's writer advances its cursor. */
  ranges: RangeStore
  /** This instance, as the holder of ranges. */
  owner: string
  /** Null: repositories are never fetched (only replay). */
  repos: RepoDeps | null
  decoder: FrameDecoder
  throttle: Throttle
  log?: ServiceLog
  /** How long a probe waits for a first frame before calling a cursor the head. */
  probeQuietMs?: number
  progressIntervalMs?: number
  /** The identity service's counts, shown with the backfill's progress. */
  identity?: () => IdentityProgress
  /** Every instance on the database, as the last heartbeat read them. */
  instances?: () => InstanceView[]
}

/**
 * A range held by an instance that stopped renewing it is claimable this long after its last renewal (at once when
 * the instance's heartbeat stopped: db/lease-liveness.ts).
 */
const RANGE_LEASE_MS = 10_000
const RANGE_RENEW_MS = 2_000

export class BackfillService {
  readonly log: ServiceLog
  private state: RunState
  private meta: RunMeta | null = null
  private replayer: RangeReplay | null = null
  /** Frames this instance's replay committed per second, over every range it replayed. */
  private readonly replayRate = new RateMeter()
  private repoPart: RepoPart | null = null
  private scheduler: ResyncScheduler | null = null
  private resyncWorkers: RepoWorkers | null = null
  private checking: Promise<void> | null = null
  private previousLifeReleased: Promise<void> | null = null
  private syncCounts: { counts: SyncStateCounts; at: number } | null = null
  private readonly gate = new IntakeGate()
  private readonly watchdog: MemoryWatchdog
  private readonly semaphore: Semaphore
  private error: string | null = null
  private sourceError: string | null = null
  private running: Promise<void> | null = null
  private readonly stopSignal = new AbortController()
  private progressTimer: NodeJS.Timeout | null = null
  private lastLoggedCursor: number | null | undefined = undefined
  private lastMemoryLogAt = 0
  private lastRepoLine: string | null = null
  private announceHead!: (seq: number | null) => void
  /** The head this run replays up to, once known (null when off, failed or stopped): where the live firehose takes over. */
  readonly headSeq: Promise<number | null> = new Promise((resolve) => {
    this.announceHead = resolve
  })

  constructor(private readonly deps: BackfillDeps) {
    this.log = deps.log ?? new ServiceLog('[BACKFILL]')
    this.state = deps.config.window === null ? 'off' : 'idle'
    this.semaphore = new Semaphore(() => deps.throttle.current().maxConcurrent)
    this.watchdog = new MemoryWatchdog({ limitMb: () => deps.throttle.current().maxMemoryMb, log: this.log.write, gate: this.gate })
    if (this.state === 'off') this.announceHead(null)
  }

  /** Starts the run in the background; resolves once it has begun (not when it ends). */
  start(): void {
    if (this.stopSignal.signal.aborted) return
    void this.releasePreviousLife()
    this.keepRepositoriesTrue()
    if (this.state === 'off' || this.running) return
    this.running = this.run().finally(() => {
      this.running = null
    })
  }

  /**
   * Once, before this process claims anything: a previous life of this instance id (a restart with the same
   * INSTANCE_ID) may have held ranges and jobs. Its heartbeat row is this process's now, so they would not lapse
   * before their leases ran out; they go back to pending at once. A database that is down leaves them to their leases.
   */
  private releasePreviousLife(): Promise<void> {
    this.previousLifeReleased ??= (async () => {
      const { owner, ranges, repos } = this.deps
      const [r, j] = await Promise.all([ranges.release(owner), repos?.store.release(repos.owner) ?? 0])
      if (r + j > 0) this.log.write(`Gave back what a previous run of this instance (${owner}) held: ${r} ranges, ${j} repository jobs`)
    })().catch(() => {})
    return this.previousLifeReleased
  }

  /**
   * Whatever the window (off included): gaps the writer found are confirmed and each desynchronized repository is
   * queued for a resync (resync-scheduler.ts), and one repo worker fetches the queued resyncs whenever no run's
   * repo part is doing it, under the same gate, semaphore and throttle.
   */
  private keepRepositoriesTrue(): void {
    const repos = this.deps.repos
    if (!repos || this.scheduler) return
    this.scheduler = new ResyncScheduler({
      pool: repos.db,
      jobs: repos.store,
      committedThrough: () => this.committedThrough(repos.db),
      intervalMs: 5000,
      log: this.log.write,
      paused: () => this.gate.closedBy.includes('database'),
    })
    this.scheduler.start()
    const workers = new RepoWorkers({
      ...this.workerOptions(repos, 1),
      listingDone: () => false,
      idleMs: 2000,
      // The run's repo workers claim resyncs too; a second claimer would exceed BACKFILL_REPO_CONCURRENCY and its
      // records would be missing from the run's counts.
      standBy: () => this.repoPart?.running ?? false,
      // A backfill run's jobs are its own: with the backfill off (or its repo part not started) they wait for a run,
      // instead of being fetched one at a time by the worker that keeps the index true.
      resyncsOnly: true,
    })
    this.resyncWorkers = workers
    void this.releasePreviousLife().then(() => workers.run()).catch((err: Error) => this.log.write(`Repos: the resync worker stopped: ${err.message}`))
  }

  /**
   * The seq up to which every consumer has written: the replay's cursor while it runs, and the live firehose's as
   * committed (whichever instance runs it).
   */
  private async committedThrough(db: pg.Pool): Promise<number | null> {
    const { rows } = await db.query<{ seq: string | null }>(`SELECT seq FROM cursors WHERE name = 'firehose'`)
    const live = rows[0]?.seq == null ? null : Number(rows[0].seq)
    const replay = this.replayer?.summary?.cursor ?? null
    if (this.state === 'running' && replay !== null) return live === null ? replay : Math.min(live, replay)
    return live ?? replay
  }

  /**
   * After the source lost events (an OutdatedCursor, a gap): every known repository's latest commit is compared
   * with what was applied, and only those that moved are resynced. One check at a time; a gap during one is covered
   * by it.
   */
  checkEveryRepository(reason: string): void {
    const repos = this.deps.repos
    if (!repos || this.checking || this.stopSignal.signal.aborted) return
    this.log.write(`Repos: ${reason}; checking every known repository against its PDS's latest commit`)
    const signal = this.stopSignal.signal
    this.checking = checkAll(repos.db, (did) => repos.fetcher.latestCommit(did, signal), { signal })
      .then((r) => {
        this.log.write(`Repos: checked ${r.checked} repositories: ${r.desynchronized.length} changed and will be resynced, ${r.failed} could not be asked`)
      })
      .catch((err: Error) => this.log.write(`Repos: the check of every repository failed: ${err.message}`))
      .finally(() => {
        this.checking = null
      })
  }

  /** Resolves when the current run ends (complete, failed or stopped). */
  async whenDone(): Promise<void> {
    await this.running
  }

  /** Ends the run promptly, whatever it is doing; batches already being written are finished first. */
  async stop(): Promise<void> {
    this.stopSignal.abort()
    this.repoPart?.stop()
    this.resyncWorkers?.stop()
    await this.replayer?.stop()
    await Promise.all([this.running, this.scheduler?.stop(), this.checking])
    // Given back at once, so that another instance need not wait for the leases to run out.
    await this.deps.ranges.release(this.deps.owner).catch(() => {})
    this.announceHead(null)
    this.stopProgressTimer()
  }

  pause(): void {
    this.gate.close('operator')
    this.log.write('Paused by the operator')
  }

  resume(): void {
    this.gate.open('operator')
    this.log.write('Resumed by the operator')
  }

  getProgress(): BackfillProgress {
    const replay = this.replayer
    const current = replay?.consumer ?? null
    const window = this.deps.config.window
    const mem = process.memoryUsage()
    return backfillProgress({
      state: this.state,
      relay: this.deps.relay,
      windowDays: window?.kind === 'days' ? window.days : null,
      meta: this.meta,
      pipeline: replay
        ? {
            committedSeq: replay.summary?.cursor ?? null,
            written: replay.summary?.written ?? null,
            counts: replay.counts,
            eventsPerSecond: this.replayRate.perSecond(),
            gaps: replay.gaps,
            databaseDown: current?.pipeline.isDatabaseDown ?? false,
          }
        : null,
      source: sourceConnection(current?.source.stats() ?? null, this.sourceError),
      closedBy: this.gate.closedBy,
      settings: this.deps.throttle.current(),
      profile: this.deps.config.profile,
      describe: this.deps.throttle.describe(),
      budget: this.deps.throttle.budget(),
      semaphore: this.semaphore,
      pool: this.deps.pool,
      memory: { rssMb: Math.round(mem.rss / 1048576), heapUsedMb: Math.round(mem.heapUsed / 1048576) },
      error: this.error ?? (this.state === 'locating' ? this.sourceError : null),
      logs: this.log.recent(),
      repos: this.repoPart?.progress() ?? null,
      identity: this.deps.identity?.() ?? null,
      sync: this.syncStates(),
      instances: this.deps.instances?.() ?? [],
    })
  }

  /** Repositories by sync state, counted at most every few seconds (a count over every known repository). */
  private syncStates(): SyncStateCounts | null {
    const repos = this.deps.repos
    if (!repos) return null
    // While the database is down the last counts stand: no query every few seconds at a database that is gone.
    if (!this.gate.closedBy.includes('database') && (!this.syncCounts || Date.now() - this.syncCounts.at > 5000)) {
      const at = Date.now()
      this.syncCounts = { counts: this.syncCounts?.counts ?? EMPTY_SYNC, at }
      syncStateCounts(repos.db)
        .then((counts) => {
          this.syncCounts = { counts, at }
        })
        .catch(() => {})
    }
    return this.syncCounts?.counts ?? EMPTY_SYNC
  }

  /**
   * Fetches these repositories whole again, with repo workers of this service (its gate, semaphore and throttle, so
   * the backfill's limits hold for them too), and resolves once each job is done, unavailable or failed. `reason` is
   * shown on their positions until then. Works whether or not a run is going on: its own workers may take some too.
   */
  async resync(dids: string[], reason: string, signal: AbortSignal, pollMs = 250): Promise<void> {
    const repos = this.deps.repos
    if (!repos) throw new Error('repositories cannot be fetched by this instance: it has no repository part')
    if (dids.length === 0) return
    await this.releasePreviousLife()
    for (const did of dids) await queueResync(repos.db, repos.store, did, reason)
    const workers = new RepoWorkers({
      ...this.workerOptions(repos, Math.min(repos.concurrency, dids.length)),
      listingDone: () => true,
      resyncsOnly: true,
    })
    const running = workers.run()
    const stop = () => workers.stop()
    signal.addEventListener('abort', stop, { once: true })
    try {
      const left = new Set(dids)
      while (left.size > 0 && !signal.aborted && !this.stopping) {
        for (const did of [...left]) {
          const state = (await repos.store.get(did))?.status.state
          if (state === 'done' || state === 'unavailable' || state === 'failed') left.delete(did)
        }
        if (left.size > 0) await abortableSleep(pollMs, signal)
      }
    } finally {
      signal.removeEventListener('abort', stop)
      workers.stop()
      await running
    }
  }

  private get stopping(): boolean {
    return this.stopSignal.signal.aborted
  }

  private async run(): Promise<void> {
    const { config, relay } = this.deps
    const store = this.deps.cursors
    try {
      await this.releasePreviousLife()
      const settings = this.deps.throttle.current()
      for (const line of configLines(config, settings, this.deps.throttle.describe(), relay, heapLimitMb())) this.log.write(line)
      this.state = 'locating'
      // Read (or plan) the run and store its ranges under the plan lock: instances starting together plan it once.
      const planned = await withPlanLock(this.deps.pool, this.stopSignal.signal, () => this.planOrResume())
      if (!planned || planned === 'complete') {
        this.state = planned === 'complete' ? 'complete' : 'idle'
        return
      }
      this.meta = planned
      this.announceHead(this.meta.headSeq)
      if (this.stopping) {
        this.state = 'idle'
        return
      }
      const meta = this.meta
      const [end, reposEnd] = await Promise.all([this.replay(meta), this.fetchRepos(meta)])
      if (end === 'complete' && reposEnd !== 'stopped') {
        this.state = 'complete'
        this.meta = { ...this.meta, state: 'complete', completedAt: new Date().toISOString() }
        await store.saveMeta(this.meta)
      } else if ((this.state as RunState) === 'running') {
        // replay() set it while the frames flowed; the run ended without completing (stopped, or the repos part).
        this.state = 'idle'
      }
    } catch (err) {
      this.state = 'failed'
      this.error = err instanceof Error ? err.message : String(err)
      this.log.write(`Failed: ${this.error}`)
    } finally {
      this.announceHead(null)
      this.stopProgressTimer()
    }
  }

  /**
   * The run this instance takes part in: the stored one when it is this window's (its ranges created if a run
   * persisted before ranges has none), or a new one planned now. 'complete' when the stored run is finished; null
   * when stopped before the source could be reached. Called holding the plan lock.
   */
  private async planOrResume(): Promise<RunMeta | 'complete' | null> {
    const { config, relay } = this.deps
    const store = this.deps.cursors
    const stored = await store.load()
    if (stored.meta && sameRun(stored.meta, relay, config.window)) {
      const meta = stored.meta
      this.meta = meta
      if (meta.state === 'complete') {
        this.announceHead(meta.headSeq)
        this.log.write(`Complete: this window was backfilled up to seq ${meta.headSeq} at ${meta.completedAt}; nothing to do`)
        return 'complete'
      }
      const cursor = stored.seq ?? meta.startCursor
      if ((await this.deps.ranges.count(meta.startedAt)) === 0) {
        await this.deps.ranges.create(meta.startedAt, splitWindow(meta.startCursor ?? 0, meta.headSeq), cursor)
      }
      this.log.write(`Resuming from cursor ${cursor} toward head ${meta.headSeq} (run started ${meta.startedAt})`)
      return meta
    }
    const located = await planWindowUntilReachable({
      relay,
      decoder: this.deps.decoder,
      window: config.window!,
      tombstoneHorizon: await tombstoneHorizon(this.deps.pool, relay),
      probeQuietMs: this.deps.probeQuietMs ?? 2000,
      log: this.log.write,
      onSourceError: (message) => {
        this.sourceError = message
      },
      signal: this.stopSignal.signal,
    })
    if (!located) return null
    await store.reset(located.startCursor, located)
    await this.deps.ranges.create(located.startedAt, splitWindow(located.startCursor ?? 0, located.headSeq), located.startCursor)
    if (located.repos && this.deps.repos) {
      // Another run (window): every known repository is to be fetched again for it, and listed afresh.
      await this.deps.repos.store.restartAll(located.repos.since)
      await this.deps.repos.lister(located.repos.since).resetListings()
    }
    return located
  }

  /** What every repo worker of this service shares: the gate, the semaphore, the throttle, the writer. */
  private workerOptions(repos: RepoDeps, concurrency: number): Omit<RepoWorkerOptions, 'listingDone'> {
    return {
      owner: repos.owner,
      store: repos.store,
      fetch: (did, jobSince, signal) => repos.fetcher.fetch(did, jobSince, signal),
      writer: new RetryingWriter(repos.sink, this.gate, this.log.write, this.stopSignal.signal),
      gate: this.gate,
      semaphore: this.semaphore,
      throttle: this.deps.throttle,
      watchdog: this.watchdog,
      concurrency,
      parkedHosts: () => repos.limiter.parkedHosts(),
      leaseMs: repos.leaseMs,
      onOutcome: () => {},
      deletesFor: (commit, keys) => resyncDeletes(repos.db, commit, keys),
      positionStep: (tx, did, rev, dataCid) => markResynced(tx, did, rev, dataCid),
      onGivenUp: async (did, reason) => {
        await markResyncFailed(repos.db, did, reason)
      },
      log: this.log.write,
    }
  }

  /** The repository part of the run, when the window needs it; 'skipped' when it does not. */
  private async fetchRepos(meta: RunMeta): Promise<'complete' | 'stopped' | 'skipped'> {
    const repos = this.deps.repos
    if (!meta.repos || !repos) {
      if (meta.repos && !repos) this.log.write('Repos: this run asks for repositories, but none can be fetched here; replay only')
      return 'skipped'
    }
    const since = meta.repos.since
    const part = new RepoPart({
      store: repos.store,
      lister: repos.lister(since),
      sources: repos.sources,
      only: repos.only,
      resolveHandle: repos.resolveHandle,
      since,
      limiter: repos.limiter,
      log: this.log.write,
      signal: this.stopSignal.signal,
      workers: this.workerOptions(repos, repos.concurrency),
    })
    this.repoPart = part
    this.log.write(
      `Repos: fetching ${since === null ? 'every record of each repository' : `what changed since rev ${since}`}` +
        ` from ${repos.only ? 'the repositories in BACKFILL_REPOS' : repos.sources.map((s) => s.name).join(', ')}`,
    )
    this.startProgressTimer()
    // One line per park (the limiter tells each new or extended park once, however many requests meet it).
    const stopParkLines = repos.limiter.onPark((e) =>
      this.log.write(`Host ${e.host} parked until ${new Date(e.until).toISOString()} (${e.reason}); its requests wait until then, other hosts go on`),
    )
    const end = await part.run().finally(stopParkLines)
    this.logRepoProgress()
    if (end === 'complete') {
      const j = part.progress().jobs
      this.log.write(`Repos complete: ${j.done} fetched, ${j.unavailable} unavailable, ${j.failed} failed; ${part.workers.records} records written`)
    }
    return end
  }

  /** This instance's part in replaying the window: ranges claimed and replayed until every range is done. */
  private async replay(meta: RunMeta): Promise<RunState> {
    const { config, relay, throttle } = this.deps
    const replayer = new RangeReplay({
      ranges: this.deps.ranges,
      runId: meta.startedAt,
      headSeq: meta.headSeq,
      owner: this.deps.owner,
      leaseMs: RANGE_LEASE_MS,
      renewEveryMs: RANGE_RENEW_MS,
      idleMs: 1000,
      isTransient: (err) => this.deps.sink.failureKind(err) !== 'fatal',
      log: this.log.write,
      signal: this.stopSignal.signal,
      consumer: (range, onCommitted) =>
        createConsumer({
          name: range.cursorName,
          service: relay,
          decoder: this.deps.decoder,
          sink: this.deps.sink,
          throttle,
          semaphore: this.semaphore,
          gate: this.gate,
          watchdog: this.watchdog,
          startCursor: range.from,
          stopAtSeq: range.end,
          flushAfterMs: 1000,
          nothingReadableAfter: async (seq, signal) => {
            const probe = createProbe({ service: relay, decoder: this.deps.decoder, quietMs: this.deps.probeQuietMs ?? 2000, signal })
            return (await probe(seq).catch(() => null))?.kind === 'empty'
          },
          stallTimeoutMs: config.stallTimeoutMs,
          log: this.log.write,
          onSourceEvent: (e) => this.onSourceEvent(e),
          onGap: (reason) => this.checkEveryRepository(reason),
          onCommitted,
          rate: this.replayRate,
        }),
    })
    this.replayer = replayer
    this.state = 'running'
    await replayer.refresh()
    this.log.write(`Replaying from cursor ${replayer.summary?.cursor ?? meta.startCursor} to head ${meta.headSeq}`)
    const ranges = replayer.summary?.ranges ?? 0
    if (ranges > 1) this.log.write(`Replay: the window is ${ranges} seq ranges, each replayed by whichever instance claims it (this one is ${this.deps.owner})`)
    this.startProgressTimer()
    const end = await replayer.run()
    await replayer.refresh()
    this.logProgress(true)
    if (end.kind === 'complete') {
      const c = replayer.counts
      this.log.write(
        `Complete: reached head seq ${meta.headSeq}; ${c.processed} events written, ${c.invalid} rejected, ${c.skipped} skipped` +
          (ranges > 1 ? ` (this instance's share: ${replayer.rangesDone} of the ${ranges} ranges marked done here)` : ''),
      )
    } else if (end.kind === 'failed') {
      this.state = 'failed'
      this.repoPart?.stop()
      this.error = end.error
      this.log.write(`Failed: ${end.error}`)
    } else {
      this.state = 'idle'
      this.log.write(`Stopped at cursor ${replayer.summary?.cursor ?? null}; a restart resumes there`)
    }
    return end.kind === 'complete' ? 'complete' : this.state
  }

  private onSourceEvent(e: SourceEvent): void {
    if (e.kind === 'disconnected') this.sourceError = e.reason
    const line = sourceEventLine(e)
    if (line && !this.stopping) this.log.write(line)
  }

  private startProgressTimer(): void {
    this.stopProgressTimer()
    this.progressTimer = setInterval(() => this.logProgress(false), this.deps.progressIntervalMs ?? 5000)
    this.progressTimer.unref()
  }

  private stopProgressTimer(): void {
    if (this.progressTimer) clearInterval(this.progressTimer)
    this.progressTimer = null
  }

  /** The repos' line, when it says something new (no line every few seconds that repeats the last). */
  private logRepoProgress(): void {
    const repos = this.repoPart?.progress()
    if (!repos) return
    const line = repoProgressLine(repos)
    if (line === this.lastRepoLine) return
    this.lastRepoLine = line
    this.log.write(line)
  }

  private logProgress(final: boolean): void {
    const p = this.getProgress()
    this.logRepoProgress()
    if (!final && this.lastLoggedCursor === p.cursor) return
    this.lastLoggedCursor = p.cursor
    this.log.write(progressLine(p))
    if (Date.now() - this.lastMemoryLogAt >= 30_000 || final) {
      this.lastMemoryLogAt = Date.now()
      this.log.write(`Memory: ${rssMb()} MB / ${p.memory.limitMb} MB limit`)
    }
  }
}
