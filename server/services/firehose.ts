// The appview's live subscription: indexes new events from its own persisted cursor, unthrottled, through the same
// source, decoder and writer as the backfill. Where both write the same records, the ordering contract (rev guard
// and tombstones) keeps the result right whichever lands first.
import type pg from 'pg'
import type { ThrottleSettings } from '../config/profiles.js'
import { BatchWriter } from '../indexer/writer.js'
import type { FrameDecoder } from '../pipeline/decoder/types.js'
import { PgCursorStore } from '../pipeline/cursor-store.js'
import { IntakeGate } from '../pipeline/gate.js'
import { Pipeline } from '../pipeline/pipeline.js'
import { Semaphore } from '../pipeline/semaphore.js'
import { WebSocketSource, sourceEventLine } from '../pipeline/source.js'
import { StaticThrottle } from '../pipeline/throttle.js'
import { ServiceLog } from './log.js'

// Live traffic is a few hundred to a few thousand events/s: small batches keep indexing latency under a second,
// and one writer keeps the cursor in each batch's own transaction.
const LIVE_SETTINGS: ThrottleSettings = {
  batchSize: 500,
  batchDelayMs: 0,
  maxConcurrent: 1,
  maxMemoryMb: 0,
  useIdle: false,
  dbPoolSize: 2,
}

export type FirehoseState = 'off' | 'starting' | 'live' | 'failed' | 'stopped'

export type FirehoseDeps = {
  relay: string
  pool: pg.Pool
  decoder: FrameDecoder
  stallTimeoutMs: number
  /** Where to start when no cursor is stored yet (the backfill's head, so that the two meet without a gap). */
  initialCursor: () => Promise<number | null>
  log?: ServiceLog
}

export class FirehoseService {
  readonly log: ServiceLog
  private state: FirehoseState = 'starting'
  private pipeline: Pipeline | null = null
  private source: WebSocketSource | null = null
  private running: Promise<void> | null = null
  private error: string | null = null

  constructor(private readonly deps: FirehoseDeps) {
    this.log = deps.log ?? new ServiceLog('[FIREHOSE]')
  }

  start(): void {
    if (this.running) return
    this.running = this.run().finally(() => {
      this.running = null
    })
  }

  async stop(): Promise<void> {
    this.pipeline?.stop()
    await this.source?.close()
    await this.running
    this.state = 'stopped'
  }

  getStatus() {
    const p = this.pipeline
    return {
      state: this.state,
      cursor: p?.committedSeq ?? null,
      received: p?.counts.received ?? 0,
      processed: p?.counts.processed ?? 0,
      eventsPerSecond: Math.round((p?.rate.perSecond() ?? 0) * 10) / 10,
      error: this.error,
    }
  }

  private async run(): Promise<void> {
    try {
      const store = new PgCursorStore<Record<string, never>>(this.deps.pool, 'firehose')
      const stored = await store.load()
      const cursor = stored.seq ?? (await this.deps.initialCursor())
      let pipeline: Pipeline | null = null
      const source = new WebSocketSource({
        service: this.deps.relay,
        stallTimeoutMs: this.deps.stallTimeoutMs,
        resumeCursor: () => pipeline!.resumeCursor(),
        onEvent: (e) => {
          const line = sourceEventLine(e)
          if (line) this.log.write(line)
        },
      })
      pipeline = new Pipeline({
        cursorName: 'firehose',
        source,
        decoder: this.deps.decoder,
        writer: new BatchWriter(this.deps.pool, 'firehose'),
        throttle: new StaticThrottle(LIVE_SETTINGS, 'live'),
        semaphore: new Semaphore(LIVE_SETTINGS.maxConcurrent),
        gate: new IntakeGate(),
        watchdog: null,
        startCursor: cursor,
        stopAtSeq: null,
        flushAfterMs: 200,
        log: this.log.write,
      })
      this.pipeline = pipeline
      this.source = source
      this.log.write(`Subscribing to ${this.deps.relay} from ${cursor === null ? 'the live head' : `cursor ${cursor}`}`)
      this.state = 'live'
      source.start()
      const end = await pipeline.run()
      await source.close()
      if (end.kind === 'failed') {
        this.state = 'failed'
        this.error = end.error
        this.log.write(`Failed: ${end.error}`)
      }
    } catch (err) {
      this.state = 'failed'
      this.error = err instanceof Error ? err.message : String(err)
      this.log.write(`Failed: ${this.error}`)
    }
  }
}
