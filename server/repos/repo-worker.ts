// The repo workers: claim a repository job, fetch it (repo-fetcher.ts), walk its records and write them through the
// same sink as the replay, under the same gate, semaphore, throttle and memory watchdog, so a `background` repo
// backfill is as gentle as a `background` replay. Records go out in chunks of the throttle's batch size; the last
// chunk's transaction also marks the job done (a CommitStep), so a repository is done exactly when all its rows are.
//
// Queue guarantees: each worker holds one repository at a time, and at most one chunk of it in memory besides the
// CAR's blocks (in memory up to the spill size, else in a temp file). Leases are renewed every third of their length
// while a job is held; a worker that dies loses its jobs to whoever claims them once the lease lapses (at once when
// its instance's heartbeat stops). On stop, the jobs these workers left unfinished go back to pending, and only those:
// other workers of the same instance (a resync beside the run's repo part) keep theirs.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { DeleteOp, PipelineItem } from '../events/index.js'
import { abortableSleep } from '../lib/sleep.js'
import type { IntakeGate } from '../pipeline/gate.js'
import { RateMeter } from '../pipeline/rate.js'
import type { Semaphore } from '../pipeline/semaphore.js'
import type { CommitStep, Transaction, WriteOutcome } from '../pipeline/sink.js'
import type { Throttle } from '../pipeline/throttle.js'
import type { MemoryWatchdog } from '../pipeline/watchdog.js'
import type { RetryingWriter } from '../pipeline/write-retry.js'
import type { RepoJob, RepoJobStore } from './job-store.js'
import type { RepoKey } from './repo-car.js'
import { HostParked, RepoFetchFailed, RepoUnavailable, type FetchedRepo } from './repo-fetcher.js'

export type RepoWorkerOptions = {
  /** This instance: who holds a lease. */
  owner: string
  store: RepoJobStore
  fetch: (did: string, since: string | null, signal: AbortSignal) => Promise<FetchedRepo>
  writer: RetryingWriter
  gate: IntakeGate
  semaphore: Semaphore
  throttle: Throttle
  watchdog: MemoryWatchdog | null
  /** Hosts parked now: claims pass over their jobs, so a parked host holds up no worker. */
  parkedHosts: () => string[]
  /** Repositories in flight at once (BACKFILL_REPO_CONCURRENCY). */
  concurrency: number
  leaseMs: number
  /** The part is done once this says no more jobs will come (the listings ended) and none is left to claim. */
  listingDone: () => boolean
  /** Counted with each chunk: what the progress view shows of rejects. */
  onOutcome: (outcome: WriteOutcome) => void
  /**
   * For a whole repository: deletes for every indexed record of the DID its CAR no longer has (at the CAR's rev, so
   * a newer live op is never undone). A `since` diff says nothing of deletes and gets none.
   */
  deletesFor: (commit: { did: string; rev: string; time: string }, keys: AsyncIterable<RepoKey>) => AsyncIterable<DeleteOp>
  /** In the transaction of the repository's last rows: its position is now the CAR's commit (see resync-scheduler). */
  positionStep: (tx: Transaction, did: string, rev: string, dataCid: string) => Promise<void>
  /** A repository that will not be fetched (unavailable, or failed for good): its resync, if any, has failed. */
  onGivenUp: (did: string, reason: string) => Promise<void>
  log: (line: string) => void
  /** How long an idle worker waits before looking for work again. */
  idleMs?: number
  /** While this says so, claim nothing: other workers of this instance are fetching, and the budget is theirs. */
  standBy?: () => boolean
  /** Claim only repositories queued for a resync, never a backfill run's jobs (job-store.ts, claim). */
  resyncsOnly?: boolean
}

export type RepoWorkersEnd = 'complete' | 'stopped'

export class RepoWorkers {
  readonly rate = new RateMeter()
  records = 0
  private readonly held = new Set<string>()
  /** Jobs let go unfinished because of stop(): still leased to this instance until released. */
  private readonly unfinished = new Set<string>()
  private readonly abort = new AbortController()
  private readonly loggedFailures = new Set<string>()

  constructor(private readonly opts: RepoWorkerOptions) {}

  get fetching(): number {
    return this.held.size
  }

  stop(): void {
    this.abort.abort()
  }

  /** Works until every job is done, failed for good or unavailable (and the listings have ended), or stop(). */
  async run(): Promise<RepoWorkersEnd> {
    const heartbeat = setInterval(() => void this.renewLeases(), Math.max(1000, this.opts.leaseMs / 3))
    heartbeat.unref()
    try {
      await Promise.all(Array.from({ length: this.opts.concurrency }, () => this.workLoop()))
    } finally {
      clearInterval(heartbeat)
      // What these workers left goes back to pending at once rather than after the lease.
      if (this.unfinished.size) await this.opts.store.release(this.opts.owner, [...this.unfinished]).catch(() => 0)
    }
    return this.abort.signal.aborted ? 'stopped' : 'complete'
  }

  private async workLoop(): Promise<void> {
    const signal = this.abort.signal
    while (!signal.aborted) {
      await this.opts.gate.waitOpen(signal)
      if (signal.aborted) return
      if (this.opts.standBy?.()) {
        await abortableSleep(this.opts.idleMs ?? 1000, signal)
        continue
      }
      let job: RepoJob | undefined
      try {
        ;[job] = await this.opts.store.claim(this.opts.owner, 1, this.opts.leaseMs, { avoidHosts: this.opts.parkedHosts(), resyncsOnly: this.opts.resyncsOnly })
      } catch (err) {
        // The database is down: the replay's writer closes the gate; this loop just waits its turn again.
        this.logFailureKind(`could not claim a job: ${(err as Error).message}`, 'any')
        await abortableSleep(this.opts.idleMs ?? 1000, signal)
        continue
      }
      if (!job) {
        if (await this.finished()) return
        await abortableSleep(this.opts.idleMs ?? 1000, signal)
        continue
      }
      this.held.add(job.did)
      try {
        await this.work(job)
      } catch (err) {
        // Recording the job's outcome failed (the database went away): its lease runs out and it is claimed again.
        this.logFailureKind(`could not record the outcome of a job: ${(err as Error).message}`, job.did)
      } finally {
        this.held.delete(job.did)
        if (signal.aborted) this.unfinished.add(job.did)
      }
    }
  }

  /** Nothing pending, nothing held by anyone, nothing failed that will be retried, and no more to be listed. */
  private async finished(): Promise<boolean> {
    if (!this.opts.listingDone()) return false
    try {
      const c = await this.opts.store.counts()
      return c.pending === 0 && c.fetching === 0 && (await this.opts.store.retryingCount()) === 0
    } catch {
      return false
    }
  }

  private async work(job: RepoJob): Promise<void> {
    const { store, owner } = this.opts
    let fetched: FetchedRepo | null = null
    try {
      fetched = await this.opts.fetch(job.did, job.since, this.abort.signal)
      await this.writeRecords(job, fetched)
    } catch (err) {
      if (this.abort.signal.aborted) return
      if (err instanceof HostParked) {
        await store.defer(job.did, owner, err.host)
        return
      }
      if (err instanceof RepoUnavailable) {
        await store.markUnavailable(job.did, owner, err.status, err.message)
        await this.opts.onGivenUp(job.did, `unavailable (${err.status}): ${err.message}`)
        return
      }
      const message = err instanceof Error ? err.message : String(err)
      const retryable = err instanceof RepoFetchFailed ? err.retryable : false
      const outcome = await store.markFailed(job.did, owner, message, { retryable, host: fetched?.host })
      // out of attempts is as final as not retryable: a resync that ends here must not stay 'resyncing'
      if (outcome === 'given-up') await this.opts.onGivenUp(job.did, message)
      this.logFailureKind(message, job.did)
    } finally {
      await fetched?.car?.close()
    }
  }

  /** Writes the walk in chunks; the last chunk marks the job done. Stops early (the job stays leased) on stop(). */
  private async writeRecords(job: RepoJob, fetched: FetchedRepo): Promise<void> {
    const { car } = fetched
    const time = new Date().toISOString()
    let pending: PipelineItem[] | null = null
    let records = 0
    const done: CommitStep = async (tx) => {
      if (fetched.dataCid !== null) await this.opts.positionStep(tx, job.did, fetched.rev, fetched.dataCid)
      const marked = await this.opts.store.markDone(tx, job.did, this.opts.owner, {
        rev: fetched.rev,
        dataCid: fetched.dataCid,
        records,
        host: fetched.host,
      })
      if (!marked) this.opts.log(`Repo ${job.did}: its lease was taken over while it was written; the other holder finishes it`)
    }
    // One chunk is held back so that the last one, whichever it is, carries the done step.
    for await (const chunk of this.chunks(job, fetched, time)) {
      if (pending && !(await this.writeChunk(pending, null))) return
      records += chunk.filter((i) => i.kind === 'create').length
      pending = chunk
    }
    await this.writeChunk(pending ?? [], done)
  }

  /** The records in chunks, then (for a whole repository) the deletes for what it no longer has. */
  private async *chunks(job: RepoJob, fetched: FetchedRepo, time: string): AsyncGenerator<PipelineItem[]> {
    const { car } = fetched
    if (!car) return
    const size = () => Math.max(1, this.opts.throttle.current().batchSize)
    yield* car.walk({ time, chunkRecords: size() })
    if (job.since !== null) return
    let deletes: PipelineItem[] = []
    for await (const op of this.opts.deletesFor({ did: job.did, rev: fetched.rev, time }, car.keys())) {
      deletes.push(op)
      if (deletes.length >= size()) {
        yield deletes
        deletes = []
      }
    }
    if (deletes.length) yield deletes
  }

  private async writeChunk(items: PipelineItem[], step: CommitStep | null): Promise<boolean> {
    const { gate, semaphore, throttle, watchdog, writer } = this.opts
    const signal = this.abort.signal
    await gate.waitOpen(signal)
    await watchdog?.check(signal)
    if (signal.aborted) return false
    await semaphore.acquire()
    const started = Date.now()
    try {
      const outcome = await writer.write(items, null, null, step ?? undefined)
      this.opts.onOutcome(outcome)
    } finally {
      semaphore.release()
    }
    const writeMs = Date.now() - started
    const records = items.filter((i) => i.kind === 'create').length
    this.records += records
    this.rate.add(records)
    const settings = throttle.current()
    throttle.observe({ frames: items.length, writeMs })
    if (settings.batchDelayMs > 0) await abortableSleep(settings.batchDelayMs, signal)
    if (settings.useIdle) await yieldToEventLoop()
    return !signal.aborted
  }

  private async renewLeases(): Promise<void> {
    if (this.held.size === 0) return
    await this.opts.store.renew(this.opts.owner, [...this.held], this.opts.leaseMs).catch((err: Error) => {
      this.opts.log(`Could not renew repo leases: ${err.message}`)
    })
  }

  /** One line per kind of failure (the reason with its specifics blanked), however many repositories meet it. */
  private logFailureKind(message: string, did: string): void {
    const kind = message.replace(/did:[a-z]+:[^\s,;)]+|"[^"]*"|\d+/g, '_').slice(0, 120)
    if (this.loggedFailures.has(kind) || this.loggedFailures.size >= 200) return
    this.loggedFailures.add(kind)
    this.opts.log(`Repo ${did} failed: ${message} [first of its kind; every failure is kept with its repo]`)
  }
}
