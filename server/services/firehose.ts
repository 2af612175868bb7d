// The appview's live subscription: indexes new events from its own persisted cursor, unthrottled, through the same
// consumer (source, decoder, pipeline) and the same kind of writer as the backfill. Where both write the same
// records, the ordering contract (rev guard and tombstones) keeps the result right whichever lands first.
//
// Of all the instances sharing the database, only the one holding the live firehose lock (a session lock that dies
// with its holder, db/session-lock.ts) indexes it; the others stand by and try again every few seconds. A holder
// that loses the lock (its connection to the database ended) stops indexing at once and stands by too; whoever takes
// it next starts from the committed 'firehose' cursor, and the ordering contract makes the few events both may have
// written harmless.
//
// States: standby (another instance holds the lock, or the database cannot be reached to ask) → waiting (for the
// backfill's head, where it takes over) → connecting (no frame yet) ⇄ retrying (the last attempt failed) → live
// (frames flow) → standby again if the lock is lost, or stopped | failed.
import type { ThrottleSettings } from '../config/profiles.js'
import { createConsumer, type Consumer } from '../pipeline/consumer.js'
import type { FrameDecoder } from '../pipeline/decoder/types.js'
import type { CursorStore } from '../pipeline/cursor-store.js'
import type { AdvisoryKey, LockAttempt } from '../db/session-lock.js'
import { abortableSleep } from '../lib/sleep.js'
import { IntakeGate } from '../pipeline/gate.js'
import { Semaphore } from '../pipeline/semaphore.js'
import type { BatchSink } from '../pipeline/sink.js'
import { sourceEventLine } from '../pipeline/source.js'
import { StaticThrottle } from '../pipeline/throttle.js'
import { sourceConnection } from './source-connection.js'
import { ServiceLog } from './log.js'
import type { FirehoseState, FirehoseStatus } from './firehose-status.js'

// Live traffic is a few hundred to a few thousand events/s: small batches keep indexing latency under a second,
// and one writer keeps the cursor in each batch's own transaction.
export const LIVE_SETTINGS: ThrottleSettings = {
  batchSize: 500,
  batchDelayMs: 0,
  maxConcurrent: 1,
  maxMemoryMb: 0,
  useIdle: false,
  dbPoolSize: 2,
}

/** The live firehose lock's key ('skyf', 1): one per database, whatever else takes advisory locks there. */
export const LIVE_FIREHOSE_LOCK: AdvisoryKey = [0x736b7966, 1]

/** The lock only one instance holds at a time (a SessionLock); tryAcquire is called only while it is not held. */
export type LiveLock = { tryAcquire(): Promise<LockAttempt>; release(): Promise<void> }

export type FirehoseDeps = {
  /** This instance, as the holder is shown. */
  instanceId: string
  lock: LiveLock
  /** How long a standby waits between tries for the lock. */
  standbyRetryMs: number
  relay: string
  /** The live firehose's cursor (it keeps no run metadata); the writer advances it inside its batches. */
  cursors: CursorStore<Record<string, never>>
  /** A writer on the live firehose's own pool. */
  sink: BatchSink
  decoder: FrameDecoder
  stallTimeoutMs: number
  /** Where to start when no cursor is stored yet (the backfill's head, so that the two meet without a gap). */
  initialCursor: () => Promise<number | null>
  /** Events the source no longer delivered (OutdatedCursor after a long downtime): every repository is checked. */
  onGap?: (reason: string) => void
  log?: ServiceLog
}

/** One holding of the lock: `lost` turns true (and `whenLost` resolves) when it ends. */
type Term = { lost: boolean; whenLost: Promise<null> }

export class FirehoseService {
  readonly log: ServiceLog
  private ended: 'failed' | 'stopped' | null = null
  private consumer: Consumer | null = null
  private running: Promise<void> | null = null
  private error: string | null = null
  private lastSourceError: string | null = null
  private stopping = false
  private readonly stopSignal = new AbortController()
  /** Whether this instance holds the lock; when it does not, whether it has said so and who holds it (null: not known). */
  private holding = false
  private standingBy = false
  private holder: string | null = null

  constructor(private readonly deps: FirehoseDeps) {
    this.log = deps.log ?? new ServiceLog('[FIREHOSE]')
  }

  start(): void {
    if (this.running || this.stopping) return
    this.running = this.run().finally(() => {
      this.running = null
    })
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.stopSignal.abort()
    await this.consumer?.stop()
    await this.running
    await this.deps.lock.release()
    this.ended ??= 'stopped'
  }

  getStatus(): FirehoseStatus {
    const p = this.consumer?.pipeline
    const connection = sourceConnection(this.consumer?.source.stats() ?? null, this.lastSourceError)
    const state: FirehoseState =
      this.ended ??
      (!this.holding
        ? 'standby'
        : !this.consumer
          ? 'waiting'
          : connection.state === 'connected'
            ? 'live'
            : connection.state === 'retrying'
              ? 'retrying'
              : 'connecting')
    return {
      state,
      holder: this.holding ? this.deps.instanceId : this.holder,
      cursor: p?.committedSeq ?? null,
      received: p?.counts.received ?? 0,
      processed: p?.counts.processed ?? 0,
      eventsPerSecond: Math.round((p?.rate.perSecond() ?? 0) * 10) / 10,
      error: this.error ?? connection.error,
    }
  }

  /** Stands by until the lock is held, indexes until it is lost, and again, until stopped or failed. */
  private async run(): Promise<void> {
    while (!this.stopping && !this.ended) {
      const holding = await this.acquire()
      if (!holding) {
        await abortableSleep(this.deps.standbyRetryMs, this.stopSignal.signal)
        continue
      }
      this.holding = true
      this.standingBy = false
      this.holder = null
      this.log.write(`Holding the live firehose lock as ${this.deps.instanceId}`)
      const term: Term = { lost: false, whenLost: holding.lost.then(() => null) }
      void holding.lost.then((reason) => {
        term.lost = true
        if (!this.stopping) this.log.write(`Lost the live firehose lock (${reason}): indexing stops until it is held again`)
        void this.consumer?.stop()
      })
      await this.index(term)
      this.consumer = null
      this.holding = false
      // Failed or stopped: the lock goes, so that another instance can index.
      await this.deps.lock.release()
    }
  }

  /** One try for the lock: when held, the promise of its loss; null when not (the holder is noted and logged). */
  private async acquire(): Promise<{ lost: Promise<string> } | null> {
    let attempt: LockAttempt
    try {
      attempt = await this.deps.lock.tryAcquire()
    } catch (err) {
      this.error = `cannot reach the database for the live firehose lock: ${err instanceof Error ? err.message : String(err)}`
      return null
    }
    this.error = null
    if (attempt.held) return { lost: attempt.lost }
    if (!this.standingBy || attempt.holder !== this.holder) {
      this.log.write(`Standing by: the live firehose is indexed by ${attempt.holder ?? 'another instance'}`)
    }
    this.standingBy = true
    this.holder = attempt.holder
    return null
  }

  /** Indexes from the committed cursor until stopped, failed, or the lock is lost. */
  private async index(term: Term): Promise<void> {
    try {
      const stored = await this.deps.cursors.load()
      const cursor = stored.seq ?? (await Promise.race([this.deps.initialCursor(), term.whenLost]))
      // The backfill's head may only be known once the shutdown has begun: then there is nothing to subscribe to.
      if (this.stopping || term.lost) return
      const consumer = createConsumer({
        name: 'firehose',
        service: this.deps.relay,
        decoder: this.deps.decoder,
        sink: this.deps.sink,
        throttle: new StaticThrottle(LIVE_SETTINGS, 'live'),
        semaphore: new Semaphore(LIVE_SETTINGS.maxConcurrent),
        gate: new IntakeGate(),
        watchdog: null,
        startCursor: cursor,
        stopAtSeq: null,
        flushAfterMs: 200,
        stallTimeoutMs: this.deps.stallTimeoutMs,
        log: this.log.write,
        onGap: (reason) => this.deps.onGap?.(reason),
        onSourceEvent: (e) => {
          if (e.kind === 'disconnected') this.lastSourceError = e.reason
          const line = sourceEventLine(e)
          if (line && !this.stopping) this.log.write(line)
        },
      })
      this.consumer = consumer
      this.log.write(`Subscribing to ${this.deps.relay} from ${cursor === null ? 'the live head' : `cursor ${cursor}`}`)
      const end = await consumer.run()
      if (end.kind === 'failed') this.fail(end.error)
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err))
    }
  }

  private fail(message: string): void {
    this.ended = 'failed'
    this.error = message
    this.log.write(`Failed: ${message}`)
  }
}
