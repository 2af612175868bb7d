// BackfillService: replays the firehose from a window's start up to the head it found at start, as a background
// task. Wiring and the state machine live here; the moving parts are in ../pipeline (source, decoder, batcher,
// writer, watchdog, throttle) and ./backfill (probing the source, run state).
//
// States: idle → locating → running ⇄ paused | throttled → complete | failed.
import type pg from 'pg'
import { THROTTLE_VARS, type BackfillConfig } from '../config/index.js'
import { BatchWriter } from '../indexer/writer.js'
import type { FrameDecoder } from '../pipeline/decoder/types.js'
import { PgCursorStore } from '../pipeline/cursor-store.js'
import { IntakeGate } from '../pipeline/gate.js'
import { Pipeline, type PipelineCounts, type Gap } from '../pipeline/pipeline.js'
import { Semaphore } from '../pipeline/semaphore.js'
import { WebSocketSource, sourceEventLine, type SourceEvent } from '../pipeline/source.js'
import type { Throttle } from '../pipeline/throttle.js'
import { MemoryWatchdog, abortableSleep, rssMb } from '../pipeline/watchdog.js'
import { findCursorAt, findHead, findOldest } from './backfill/locate.js'
import { SourceUnreachable, createProbe } from './backfill/probe.js'
import { sameRun, type RunMeta } from './backfill/run-state.js'
import { ServiceLog, type LogLine } from './log.js'

export type BackfillState = 'off' | 'idle' | 'locating' | 'running' | 'paused' | 'throttled' | 'complete' | 'failed'

export type BackfillProgress = {
  state: BackfillState
  relay: string
  window: { days: number | null; requestedFrom: string | null; availableFrom: { seq: number; time: string } | null }
  cursor: number | null
  head: number | null
  start: number | null
  /** 0–100: the cursor's position between start and head. */
  percent: number | null
  counts: PipelineCounts
  eventsPerSecond: number
  etaSeconds: number | null
  memory: { rssMb: number; heapUsedMb: number; limitMb: number; paused: boolean }
  db: { inUse: number; limit: number; highWater: number; poolSize: number; poolTotal: number; poolWaiting: number; down: boolean }
  throttle: {
    profile: string
    describe: string
    batchSize: number
    batchDelayMs: number
    useIdle: boolean
    /** The adaptive governor's budget (CPU % of one core, event-loop delay), shown against use; null otherwise. */
    budget: { maxCpuPercent: number; maxLagMs: number } | null
  }
  pausedBy: string[]
  gaps: Gap[]
  startedAt: string | null
  completedAt: string | null
  error: string | null
  logs: LogLine[]
}

export type BackfillDeps = {
  config: BackfillConfig
  relay: string
  /** The backfill's own pool (invariant 6: never the API's). */
  pool: pg.Pool
  decoder: FrameDecoder
  throttle: Throttle
  log?: ServiceLog
  /** How long a probe waits for a first frame before calling a cursor the head. */
  probeQuietMs?: number
  progressIntervalMs?: number
}

const EMPTY_COUNTS: PipelineCounts = { received: 0, processed: 0, skipped: 0, invalid: 0, upserted: 0, deleted: 0, unindexed: 0 }

export class BackfillService {
  readonly log: ServiceLog
  private state: BackfillState
  private meta: RunMeta | null = null
  private pipeline: Pipeline | null = null
  private source: WebSocketSource | null = null
  private readonly gate = new IntakeGate()
  private readonly semaphore: Semaphore
  private memoryPaused = false
  private error: string | null = null
  private running: Promise<void> | null = null
  private stopping = false
  private readonly stopSignal = new AbortController()
  private progressTimer: NodeJS.Timeout | null = null
  private lastProgress: { at: number; cursor: number | null } | null = null
  private lastMemoryLogAt = 0
  private announceHead!: (seq: number | null) => void
  /** The head this run replays up to, once known (null when off or failed): where the live firehose takes over. */
  readonly headSeq: Promise<number | null> = new Promise((resolve) => {
    this.announceHead = resolve
  })

  constructor(private readonly deps: BackfillDeps) {
    this.log = deps.log ?? new ServiceLog('[BACKFILL]')
    this.state = deps.config.window === null ? 'off' : 'idle'
    this.semaphore = new Semaphore(deps.throttle.current().maxConcurrent)
    if (this.state === 'off') this.announceHead(null)
  }

  /** Starts the run in the background; resolves once it has begun (not when it ends). */
  start(): void {
    if (this.state === 'off' || this.running) return
    this.stopping = false
    this.running = this.run().finally(() => {
      this.running = null
    })
  }

  /** Resolves when the current run ends (complete, failed or stopped). */
  async whenDone(): Promise<void> {
    await this.running
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.stopSignal.abort()
    this.pipeline?.stop()
    await this.source?.close()
    await this.running
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
    const settings = this.deps.throttle.current()
    const p = this.pipeline
    const cursor = p?.committedSeq ?? null
    const start = this.meta?.startCursor ?? null
    const head = this.meta?.headSeq ?? null
    const percent =
      cursor !== null && head !== null
        ? this.state === 'complete' || head <= (start ?? 0)
          ? 100
          : Math.max(0, Math.min(100, ((cursor - (start ?? 0)) / (head - (start ?? 0))) * 100))
        : this.state === 'complete'
          ? 100
          : null
    const rate = p?.rate.perSecond() ?? 0
    // The rate is in frames; seqs are frames too, so the distance left is head − cursor frames.
    const eta = rate > 0 && cursor !== null && head !== null && this.state !== 'complete' ? Math.round((head - cursor) / rate) : null
    const mem = process.memoryUsage()
    const pool = this.deps.pool
    return {
      state: this.effectiveState(),
      relay: this.deps.relay,
      window: {
        days: typeof this.deps.config.window === 'object' && this.deps.config.window ? this.deps.config.window.days : null,
        requestedFrom: this.meta?.requestedFrom ?? null,
        availableFrom: this.meta?.availableFrom ?? null,
      },
      cursor,
      head,
      start,
      percent: percent === null ? null : Math.round(percent * 10) / 10,
      counts: p ? { ...p.counts } : { ...EMPTY_COUNTS },
      eventsPerSecond: Math.round(rate * 10) / 10,
      etaSeconds: eta,
      memory: {
        rssMb: Math.round(mem.rss / 1048576),
        heapUsedMb: Math.round(mem.heapUsed / 1048576),
        limitMb: settings.maxMemoryMb,
        paused: this.memoryPaused,
      },
      db: {
        inUse: this.semaphore.active,
        limit: this.semaphore.limit,
        highWater: this.semaphore.highWater,
        poolSize: settings.dbPoolSize,
        poolTotal: pool.totalCount,
        poolWaiting: pool.waitingCount,
        down: p?.isDatabaseDown ?? false,
      },
      throttle: {
        profile: this.deps.config.profile,
        describe: this.deps.throttle.describe(),
        batchSize: settings.batchSize,
        batchDelayMs: settings.batchDelayMs,
        useIdle: settings.useIdle,
        budget: this.deps.throttle.budget(),
      },
      pausedBy: [...this.gate.closedBy, ...(this.memoryPaused ? ['memory'] : [])],
      gaps: p ? [...p.gaps] : [],
      startedAt: this.meta?.startedAt ?? null,
      completedAt: this.meta?.completedAt ?? null,
      error: this.error,
      logs: this.log.recent(),
    }
  }

  private effectiveState(): BackfillState {
    if (this.state !== 'running') return this.state
    if (!this.gate.isOpen || this.memoryPaused) return 'paused'
    const s = this.deps.throttle.current()
    return s.batchDelayMs > 0 ? 'throttled' : 'running'
  }

  private async run(): Promise<void> {
    const { config, relay } = this.deps
    const store = new PgCursorStore<RunMeta>(this.deps.pool, 'backfill')
    try {
      this.logConfig()
      this.state = 'locating'
      const stored = await store.load()
      let cursor: number | null
      if (stored.meta && sameRun(stored.meta, relay, config.window)) {
        this.meta = stored.meta
        if (stored.meta.state === 'complete') {
          this.announceHead(stored.meta.headSeq)
          this.state = 'complete'
          this.pipeline = null
          this.log.write(`Complete: this window was backfilled up to seq ${stored.meta.headSeq} at ${stored.meta.completedAt}; nothing to do`)
          return
        }
        cursor = stored.seq ?? stored.meta.startCursor
        this.log.write(`Resuming from cursor ${cursor} toward head ${stored.meta.headSeq} (run started ${stored.meta.startedAt})`)
      } else {
        const located = await this.locateUntilReachable()
        if (!located) return
        this.meta = located
        cursor = this.meta.startCursor
        await store.reset(cursor, this.meta)
      }
      this.announceHead(this.meta.headSeq)
      if (this.stopping) return
      const end = await this.replay(cursor, this.meta)
      if (end === 'complete') {
        this.meta = { ...this.meta, state: 'complete', completedAt: new Date().toISOString() }
        await store.saveMeta(this.meta)
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
   * Locating needs the source; one that cannot be reached yet (network down at boot) is retried with backoff rather
   * than failing the run. Returns null when stopped meanwhile.
   */
  private async locateUntilReachable(): Promise<RunMeta | null> {
    for (let failures = 1; ; failures++) {
      try {
        return await this.locate()
      } catch (err) {
        if (!(err instanceof SourceUnreachable) || this.stopping) throw err
        const waitMs = Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6))
        this.log.write(`Could not locate the window: ${err.message}; retrying in ${waitMs / 1000} s`)
        await abortableSleep(waitMs, this.stopSignal.signal)
        if (this.stopping) return null
      }
    }
  }

  private async locate(): Promise<RunMeta> {
    const { config, relay, decoder } = this.deps
    const probe = createProbe({ service: relay, decoder, quietMs: this.deps.probeQuietMs ?? 2000 })
    this.log.write(`Locating the window on ${relay}`)
    const head = await findHead(probe)
    const oldest = await findOldest(probe)
    const startedAt = new Date()
    const base = { relay, headSeq: head, startedAt: startedAt.toISOString(), availableFrom: oldest, state: 'running' as const, completedAt: null }
    if (!oldest) {
      this.log.write(`The source holds no events yet (head ${head}); nothing to backfill`)
      return { ...base, window: config.window === 'all' ? 'all' : { days: (config.window as { days: number }).days }, startCursor: head, requestedFrom: null }
    }
    const heldHours = (startedAt.getTime() - Date.parse(oldest.time)) / 3_600_000
    const held = `the source holds ${heldHours.toFixed(1)} hours of history (from ${oldest.time}, seq ${oldest.seq}) up to head seq ${head}`
    if (config.window === 'all') {
      this.log.write(`Window: everything the source holds: ${held}`)
      return { ...base, window: 'all', startCursor: oldest.seq - 1, requestedFrom: null }
    }
    const days = (config.window as { days: number }).days
    const cutoff = new Date(startedAt.getTime() - days * 86_400_000)
    if (Date.parse(oldest.time) >= cutoff.getTime()) {
      this.log.write(
        `Window: ${days} days asked (from ${cutoff.toISOString()}), but ${held}; backfilling all of it. ` +
          'Relays keep only about 72 hours of replay: older history needs a full-repo sync, which this backfill does not do',
      )
      return { ...base, window: { days }, startCursor: oldest.seq - 1, requestedFrom: cutoff.toISOString() }
    }
    const startCursor = await findCursorAt(probe, cutoff, oldest, head)
    this.log.write(`Window: ${days} days from ${cutoff.toISOString()} starts after seq ${startCursor}; ${held}`)
    return { ...base, window: { days }, startCursor, requestedFrom: cutoff.toISOString() }
  }

  private async replay(cursor: number | null, meta: RunMeta): Promise<BackfillState> {
    const { config, relay, throttle, decoder } = this.deps
    let pipeline: Pipeline | null = null
    const source = new WebSocketSource({
      service: relay,
      stallTimeoutMs: config.stallTimeoutMs,
      resumeCursor: () => pipeline!.resumeCursor(),
      onEvent: (e) => this.onSourceEvent(e),
    })
    const watchdog = new MemoryWatchdog({
      limitMb: () => throttle.current().maxMemoryMb,
      log: this.log.write,
      onPause: (paused) => {
        this.memoryPaused = paused
      },
    })
    pipeline = new Pipeline({
      cursorName: 'backfill',
      source,
      decoder,
      writer: new BatchWriter(this.deps.pool, 'backfill'),
      throttle,
      semaphore: this.semaphore,
      gate: this.gate,
      watchdog,
      startCursor: cursor,
      stopAtSeq: meta.headSeq,
      flushAfterMs: 1000,
      log: this.log.write,
    })
    this.pipeline = pipeline
    this.source = source
    this.state = 'running'
    this.log.write(`Replaying from cursor ${cursor} to head ${meta.headSeq}`)
    this.startProgressTimer()
    source.start()
    const end = await pipeline.run()
    await source.close()
    this.logProgress(true)
    if (end.kind === 'complete') {
      this.state = 'complete'
      const c = pipeline.counts
      this.log.write(
        `Complete: reached head seq ${meta.headSeq}; ${c.processed} events written, ${c.invalid} rejected, ${c.skipped} skipped`,
      )
    } else if (end.kind === 'failed') {
      this.state = 'failed'
      this.error = end.error
      this.log.write(`Failed: ${end.error}`)
    } else {
      this.state = 'idle'
      this.log.write(`Stopped at cursor ${pipeline.committedSeq}; a restart resumes there`)
    }
    return this.state
  }

  private onSourceEvent(e: SourceEvent): void {
    const line = sourceEventLine(e)
    if (line && !this.stopping) this.log.write(line)
  }

  private logConfig(): void {
    const s = this.deps.throttle.current()
    const c = this.deps.config
    const window = c.window === 'all' ? 'everything the source holds' : `${(c.window as { days: number }).days} days`
    const described = this.deps.throttle.describe()
    const explicit = (Object.keys(c.explicit) as (keyof typeof THROTTLE_VARS)[]).map((k) => THROTTLE_VARS[k])
    this.log.write('Resource throttling config:')
    this.log.write(
      `  profile: ${c.profile}${described === c.profile ? '' : ` (${described})`}` +
        (explicit.length ? `; set explicitly: ${explicit.join(', ')}` : ''),
    )
    this.log.write(`  window: ${window} from ${this.deps.relay}`)
    this.log.write(`  batch size: ${s.batchSize} events, delay between batches: ${s.batchDelayMs} ms`)
    this.log.write(`  max concurrent DB operations: ${s.maxConcurrent} (pool ${s.dbPoolSize})`)
    this.log.write(`  memory limit: ${s.maxMemoryMb} MB RSS${typeof globalThis.gc === 'function' ? ', GC exposed' : ''}`)
    this.log.write(`  idle yielding: ${s.useIdle ? 'on' : 'off'}; decoder: ${c.decoder}`)
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

  private logProgress(final: boolean): void {
    const p = this.getProgress()
    if (!final && this.lastProgress?.cursor === p.cursor) return
    this.lastProgress = { at: Date.now(), cursor: p.cursor }
    const eta = p.etaSeconds === null ? '' : `, ETA ${formatDuration(p.etaSeconds)}`
    const pct = p.percent === null ? '' : `${p.percent.toFixed(1)}% `
    this.log.write(
      `Progress: ${pct}cursor ${p.cursor}/${p.head}, ${p.counts.processed} events written, ${p.counts.invalid} rejected (${Math.round(p.eventsPerSecond)} evt/s${eta})`,
    )
    if (Date.now() - this.lastMemoryLogAt >= 30_000 || final) {
      this.lastMemoryLogAt = Date.now()
      this.log.write(`Memory: ${rssMb()} MB / ${p.memory.limitMb} MB limit`)
    }
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
}
