// The appview's live subscription: indexes new events from its own persisted cursor, unthrottled, through the same
// consumer (source, decoder, pipeline) and the same kind of writer as the backfill. Where both write the same
// records, the ordering contract (rev guard and tombstones) keeps the result right whichever lands first.
//
// States: waiting (for the backfill's head, where it takes over) → connecting (no frame yet) ⇄ retrying (the last
// attempt failed) → live (frames flow) → stopped | failed.
import type { ThrottleSettings } from '../config/profiles.js'
import { createConsumer, type Consumer } from '../pipeline/consumer.js'
import type { FrameDecoder } from '../pipeline/decoder/types.js'
import type { CursorStore } from '../pipeline/cursor-store.js'
import { IntakeGate } from '../pipeline/gate.js'
import { Semaphore } from '../pipeline/semaphore.js'
import type { BatchSink } from '../pipeline/sink.js'
import { sourceEventLine } from '../pipeline/source.js'
import { StaticThrottle } from '../pipeline/throttle.js'
import { sourceConnection } from './source-connection.js'
import { ServiceLog } from './log.js'

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

export type FirehoseState = 'waiting' | 'connecting' | 'retrying' | 'live' | 'failed' | 'stopped'

export type FirehoseStatus = {
  state: FirehoseState | 'off'
  cursor: number | null
  received: number
  processed: number
  eventsPerSecond: number
  error: string | null
}

/** What is shown when the live firehose is turned off (FIREHOSE_ENABLED=false). */
export const FIREHOSE_OFF: FirehoseStatus = { state: 'off', cursor: null, received: 0, processed: 0, eventsPerSecond: 0, error: null }

export type FirehoseDeps = {
  relay: string
  /** The live firehose's cursor (it keeps no run metadata); the writer advances it inside its batches. */
  cursors: CursorStore<Record<string, never>>
  /** A writer on the live firehose's own pool. */
  sink: BatchSink
  decoder: FrameDecoder
  stallTimeoutMs: number
  /** Where to start when no cursor is stored yet (the backfill's head, so that the two meet without a gap). */
  initialCursor: () => Promise<number | null>
  log?: ServiceLog
}

export class FirehoseService {
  readonly log: ServiceLog
  private ended: 'failed' | 'stopped' | null = null
  private consumer: Consumer | null = null
  private running: Promise<void> | null = null
  private error: string | null = null
  private lastSourceError: string | null = null
  private stopping = false

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
    await this.consumer?.stop()
    await this.running
    this.ended ??= 'stopped'
  }

  getStatus(): FirehoseStatus {
    const p = this.consumer?.pipeline
    const connection = sourceConnection(this.consumer?.source.stats() ?? null, this.lastSourceError)
    const state: FirehoseState =
      this.ended ??
      (!this.consumer ? 'waiting' : connection.state === 'connected' ? 'live' : connection.state === 'retrying' ? 'retrying' : 'connecting')
    return {
      state,
      cursor: p?.committedSeq ?? null,
      received: p?.counts.received ?? 0,
      processed: p?.counts.processed ?? 0,
      eventsPerSecond: Math.round((p?.rate.perSecond() ?? 0) * 10) / 10,
      error: this.error ?? connection.error,
    }
  }

  private async run(): Promise<void> {
    try {
      const stored = await this.deps.cursors.load()
      const cursor = stored.seq ?? (await this.deps.initialCursor())
      // The backfill's head may only be known once the shutdown has begun: then there is nothing to subscribe to.
      if (this.stopping) return
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
