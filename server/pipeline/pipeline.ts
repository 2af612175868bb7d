// The firehose pipeline: source → decoder → batcher → writer, pull-driven. One loop pulls a frame only when the
// gate is open, the watchdog is satisfied and a writer slot was free for the previous batch; anything that holds
// the loop therefore stops the socket from being read (the source pauses it), which is the backpressure
// (invariant 1). The delay between batches is a wait in this loop, never a sleep inside a handler while frames
// pile up. Writes run concurrently up to the semaphore's limit (invariant 5) and the cursor only advances past
// batches that have all committed (invariant 2). Failed writes are retried by the RetryingWriter (write-retry.ts).
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { ControlFrame, DecodedFrame } from '../events/index.js'
import { abortableSleep } from '../lib/sleep.js'
import { sliceDue, yieldSlice } from '../lib/time-slice.js'
import { Batcher, type Batch } from './batcher.js'
import { CommitTracker } from './commit-tracker.js'
import type { FrameDecoder } from './decoder/types.js'
import type { IntakeGate } from './gate.js'
import { RateMeter } from './rate.js'
import type { ResumePoint } from './resume-point.js'
import type { Semaphore } from './semaphore.js'
import type { BatchSink, WriteOutcome } from './sink.js'
import { RetryingWriter } from './write-retry.js'
import type { FrameSource } from './source.js'
import type { Throttle } from './throttle.js'
import type { MemoryWatchdog } from './watchdog.js'

export type PipelineOptions = {
  /** The cursor's name in the cursors table. */
  cursorName: string
  source: FrameSource
  decoder: FrameDecoder
  sink: BatchSink
  /** Moved past each frame decoded; the source reconnects from it. */
  resume: ResumePoint
  throttle: Throttle
  semaphore: Semaphore
  gate: IntakeGate
  watchdog: MemoryWatchdog | null
  /** Events after this seq are wanted (the committed cursor). */
  startCursor: number | null
  /** Stop once this seq has been written (the backfill's head); null: run until stopped. */
  stopAtSeq: number | null
  /** A partial batch is written when no frame has come for this long. */
  flushAfterMs: number
  /**
   * Asked when the source has gone quiet short of `stopAtSeq` after frames too broken to tell their seq: true when
   * nothing readable lies after the cursor (those frames are the last events before the head). Absent: never.
   */
  nothingReadableAfter?: (seq: number | null, signal: AbortSignal) => Promise<boolean>
  /**
   * Told once per loss of events (an OutdatedCursor, or a range the source skipped): which repositories the lost
   * events touched is unknown.
   */
  onGap?: (reason: string) => void
  /** Told after each batch commits (the committed seq may have moved). */
  onCommitted?: () => void
  /** Where committed frames are counted per second; one meter may outlive a pipeline (a backfill's ranges share one). */
  rate?: RateMeter
  log: (line: string) => void
}

export type PipelineEnd = { kind: 'complete' } | { kind: 'stopped' } | { kind: 'failed'; error: string }

export type PipelineCounts = {
  /** Frames read from the source. */
  received: number
  /** Frames whose batch has committed. */
  processed: number
  /** Frames that produced nothing to index (other event types, duplicates), and events we do not apply (#sync). */
  skipped: number
  /** Rejects recorded (unparseable frames, invalid records, ...). */
  invalid: number
  upserted: number
  deleted: number
  unindexed: number
}

/** Events whose seq lies beyond what the source held when asked (OutdatedCursor, or a first seq past the cursor). */
export type Gap = { afterSeq: number | null; resumedAt: number; reason: string; at: string }

const MEMORY_CHECK_EVERY = 100

export class Pipeline {
  readonly counts: PipelineCounts = { received: 0, processed: 0, skipped: 0, invalid: 0, upserted: 0, deleted: 0, unindexed: 0 }
  readonly rate: RateMeter
  readonly gaps: Gap[] = []
  private readonly tracker: CommitTracker
  private readonly batcher: Batcher
  private readonly inFlight = new Set<Promise<void>>()
  private readonly abort = new AbortController()
  private expectFirstAfterConnect = true
  /** Frames with no readable seq since the last one with a seq: what may stand between the cursor and the head. */
  private unreadableSinceSeq = 0
  /** An OutdatedCursor was reported: the gap its first frame then shows is the same loss, not another. */
  private lossReported = false
  private sinceMemoryCheck = 0
  private readonly writer: RetryingWriter
  private readonly loggedRejectKinds = new Set<string>()
  private readonly loggedInfoNames = new Set<string>()
  private failure: string | null = null

  constructor(private readonly opts: PipelineOptions) {
    this.tracker = new CommitTracker(opts.startCursor)
    this.batcher = new Batcher(opts.startCursor)
    this.rate = opts.rate ?? new RateMeter()
    this.writer = new RetryingWriter(opts.sink, opts.gate, opts.log, this.abort.signal)
    opts.resume.seq = opts.startCursor
  }

  private get lastReceivedSeq(): number | null {
    return this.opts.resume.seq
  }

  /** The highest seq below which everything is written or rejected. */
  get committedSeq(): number | null {
    return this.tracker.committedSeq
  }

  get isDatabaseDown(): boolean {
    return this.writer.databaseDown
  }

  stop(): void {
    this.abort.abort()
  }

  async run(): Promise<PipelineEnd> {
    const { source, gate, opts } = { source: this.opts.source, gate: this.opts.gate, opts: this.opts }
    const signal = this.abort.signal
    try {
      while (!signal.aborted && this.failure === null) {
        if (opts.stopAtSeq !== null && this.lastReceivedSeq !== null && this.lastReceivedSeq >= opts.stopAtSeq) break
        await gate.waitOpen(signal)
        if (signal.aborted) break
        const pull = await source.next(opts.flushAfterMs)
        if (pull.kind === 'closed') break
        if (pull.kind === 'idle') {
          if (this.batcher.size > 0) await this.dispatch()
          if (await this.onlyUnreadableBeforeHead()) break
          continue
        }
        if (pull.kind === 'connected') {
          this.expectFirstAfterConnect = true
          continue
        }
        const result = await opts.decoder.decode(pull.bytes)
        if (result.kind !== 'frame') {
          this.onControl(result)
          continue
        }
        if (opts.stopAtSeq !== null && result.frame.seq !== null && result.frame.seq > opts.stopAtSeq) {
          await this.endBefore(opts.stopAtSeq)
          break
        }
        this.accept(result.frame)
        if (this.batcher.isFull(opts.throttle.current().batchSize)) await this.dispatch()
        if (sliceDue()) await yieldSlice()
        if (++this.sinceMemoryCheck >= MEMORY_CHECK_EVERY) {
          this.sinceMemoryCheck = 0
          await opts.watchdog?.check(signal)
        }
      }
      if (this.failure === null && this.batcher.size > 0) await this.dispatch()
      await this.drain()
    } catch (err) {
      this.failure ??= err instanceof Error ? err.message : String(err)
      await this.drain().catch(() => {})
    }
    if (this.failure !== null) return { kind: 'failed', error: this.failure }
    if (opts.stopAtSeq !== null && (this.committedSeq ?? -1) >= opts.stopAtSeq) return { kind: 'complete' }
    return { kind: 'stopped' }
  }

  private accept(frame: DecodedFrame): void {
    this.counts.received++
    if (frame.seq === null) this.unreadableSinceSeq++
    if (frame.seq !== null) {
      this.unreadableSinceSeq = 0
      if (this.lastReceivedSeq !== null && frame.seq <= this.lastReceivedSeq) {
        // Only possible if a source repeats itself; order matters more than the duplicate.
        this.counts.skipped++
        return
      }
      if (this.expectFirstAfterConnect && this.lastReceivedSeq !== null && frame.seq > this.lastReceivedSeq + 1) {
        this.recordGap(this.lastReceivedSeq, frame.seq, 'the source resumed past the cursor asked for')
      }
      this.expectFirstAfterConnect = false
      this.opts.resume.seq = frame.seq
    }
    if (frame.items.length === 0) this.counts.skipped++
    this.batcher.add(frame)
  }

  private onControl(frame: ControlFrame): void {
    const detail = frame.message ? `: ${frame.message}` : ''
    if (frame.kind === 'info') {
      if (frame.name === 'OutdatedCursor') {
        this.opts.log(
          `Source no longer holds events after seq ${this.lastReceivedSeq} (OutdatedCursor${detail}); continuing from its oldest event`,
        )
        this.expectFirstAfterConnect = true
        // The events lost may never be followed by another frame (a quiet source): report the loss now.
        if (!this.lossReported) this.opts.onGap?.(`the source no longer holds events after seq ${this.lastReceivedSeq} (OutdatedCursor)`)
        this.lossReported = true
      } else if (!this.loggedInfoNames.has(frame.name) && this.loggedInfoNames.size < 100) {
        // A source may repeat an info frame endlessly; one line per name says it all.
        this.loggedInfoNames.add(frame.name)
        this.opts.log(`Source info ${frame.name}${detail}`)
      }
      return
    }
    if (frame.name === 'FutureCursor') {
      this.failure =
        `the source says cursor ${this.lastReceivedSeq} is in its future (FutureCursor${detail}). ` +
        'The stored cursor belongs to another source: check RELAY_URL, or reset the stored cursor'
      return
    }
    this.opts.log(`Source error ${frame.name}${detail}; reconnecting from seq ${this.lastReceivedSeq}`)
    this.opts.source.reconnect(`error frame ${frame.name}`)
  }

  /**
   * A quiet source that last sent only unreadable frames short of the head would otherwise be waited on forever
   * (reconnecting after each stall to the same broken frames). When the source confirms that nothing readable
   * follows the cursor, those frames were the last events before the head: they are recorded as rejects, so the
   * cursor may pass them, and the replay is complete.
   */
  private async onlyUnreadableBeforeHead(): Promise<boolean> {
    const { stopAtSeq, nothingReadableAfter } = this.opts
    if (stopAtSeq === null || !nothingReadableAfter || this.unreadableSinceSeq === 0) return false
    if (this.lastReceivedSeq !== null && this.lastReceivedSeq >= stopAtSeq) return false
    await this.drain()
    if (this.failure !== null || !(await nothingReadableAfter(this.lastReceivedSeq, this.abort.signal))) return false
    this.opts.log(
      `Nothing readable lies between cursor ${this.lastReceivedSeq} and head ${stopAtSeq}: the ${this.unreadableSinceSeq} ` +
        'unreadable frame(s) after it are recorded as rejects; the replay is complete',
    )
    // A batch of no frames that moves the cursor to the head, after every batch before it has committed.
    this.opts.resume.seq = stopAtSeq
    await this.writeUntilDone({ items: [], frames: 0, lastSeq: stopAtSeq, afterSeq: null }, this.tracker.dispatch(stopAtSeq))
    return true
  }

  /**
   * A frame past `stopAtSeq` came while the cursor was short of it: the seqs between were never sequenced (a
   * source's seqs may skip). The frame is not this pipeline's (the next range's, or the live firehose's); the cursor
   * moves to `stopAtSeq` once every batch before has committed.
   */
  private async endBefore(stopAtSeq: number): Promise<void> {
    if (this.batcher.size > 0) await this.dispatch()
    await this.drain()
    if (this.failure !== null) return
    this.opts.resume.seq = stopAtSeq
    await this.writeUntilDone({ items: [], frames: 0, lastSeq: stopAtSeq, afterSeq: null }, this.tracker.dispatch(stopAtSeq))
  }

  private recordGap(afterSeq: number | null, resumedAt: number, reason: string): void {
    const gap = { afterSeq, resumedAt, reason, at: new Date().toISOString() }
    this.gaps.push(gap)
    if (this.gaps.length > 100) this.gaps.shift()
    if (!this.lossReported) this.opts.onGap?.(`the source skipped seqs ${(afterSeq ?? 0) + 1}..${resumedAt - 1}`)
    this.lossReported = false
    this.opts.log(`Gap: ${reason}: seqs ${(afterSeq ?? 0) + 1}..${resumedAt - 1} were not delivered`)
  }

  /** Hands the batch to a writer slot, waiting for one (this wait is the backpressure), then applies the delay. */
  private async dispatch(): Promise<void> {
    const batch = this.batcher.take()
    const settings = this.opts.throttle.current()
    await this.opts.semaphore.acquire()
    const id = this.tracker.dispatch(batch.lastSeq)
    const task = this.writeUntilDone(batch, id)
      .catch((err) => {
        // A write cut short by stop() is not a failure: its batch was not committed and will be replayed.
        if (!this.abort.signal.aborted) this.failure ??= err instanceof Error ? err.message : String(err)
      })
      .finally(() => {
        this.opts.semaphore.release()
        this.inFlight.delete(task)
      })
    this.inFlight.add(task)
    if (settings.batchDelayMs > 0) await abortableSleep(settings.batchDelayMs, this.abort.signal)
    if (settings.useIdle) await yieldToEventLoop()
  }

  private async writeUntilDone(batch: Batch, id: number): Promise<void> {
    const started = Date.now()
    const outcome = await this.writer.write(batch.items, batch.lastSeq, {
      name: this.opts.cursorName,
      afterSeq: batch.afterSeq,
      seqAtCommit: () => this.tracker.seqIfCommitted(id),
    })
    this.tracker.complete(id)
    this.counts.processed += batch.frames
    this.counts.invalid += outcome.rejected
    this.counts.skipped += outcome.unsupported
    this.counts.upserted += outcome.upserted
    this.counts.deleted += outcome.deleted
    this.counts.unindexed += outcome.unindexed
    this.rate.add(batch.frames)
    this.logNewRejectKinds(outcome)
    this.opts.throttle.observe({ frames: batch.frames, writeMs: Date.now() - started })
    this.opts.onCommitted?.()
  }

  /**
   * The first reject of each kind gets a line; the rest are counted and kept in the rejects table. A kind is the
   * category and the reason with its specifics (numbers, quoted values) blanked, so one bad field is one kind.
   */
  private logNewRejectKinds(outcome: WriteOutcome): void {
    for (const r of outcome.rejectKinds) {
      const kind = `${r.category}:${r.reason.replace(/"[^"]*"|\d+/g, '_').slice(0, 120)}`
      if (this.loggedRejectKinds.has(kind) || this.loggedRejectKinds.size >= 500) continue
      this.loggedRejectKinds.add(kind)
      const line = r.reason.length > 200 ? `${r.reason.slice(0, 200)}…` : r.reason
      const verb = r.category === 'unsupported' ? 'Skipped' : 'Rejected'
      this.opts.log(`${verb} (${r.category}) at seq ${r.seq}: ${line} [first of its kind; all are kept in the rejects table]`)
    }
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight])
  }
}
