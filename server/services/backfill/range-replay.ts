// The replay part of a run as one instance takes part in it: claim a range of the window (range-store.ts), replay it
// with a consumer whose cursor is the range's own (so its rows and its cursor commit together), mark it done, claim
// the next; when none is left to claim, wait for the ranges other instances hold (taking over any whose lease
// lapses) until every range is done. The lease is renewed every few seconds while the range is replayed; a range found
// taken over (this instance was too slow to renew) is let go at once.
//
// Guarantees: a range is replayed by one holder at a time as far as leases go; it is marked done by the holder whose
// cursor reached its end, once. The run's cursor and summary are refreshed after every committed batch (one query at
// a time, coalesced), so the progress shown is the whole run's, whichever instances wrote it.
import type { Consumer } from '../../pipeline/consumer.js'
import type { Gap, PipelineCounts, PipelineEnd } from '../../pipeline/pipeline.js'
import { backoffMs } from '../../lib/backoff.js'
import { abortableSleep } from '../../lib/sleep.js'
import type { ClaimedRange, RangeStore, RangeSummary } from './range-store.js'
import { EMPTY_COUNTS } from './progress.js'

export type RangeReplayOptions = {
  ranges: RangeStore
  runId: string
  headSeq: number
  /** This instance, as a lease holder. */
  owner: string
  leaseMs: number
  renewEveryMs: number
  /** How long to wait before asking again when every range left is held by another instance. */
  idleMs: number
  /** A consumer replaying `range` (after `range.from`, up to `range.end`) that calls `onCommitted` after each batch. */
  consumer: (range: ClaimedRange, onCommitted: () => void) => Consumer
  /** Whether a failed query of the ranges may be retried (the database is unreachable, or two writers met). */
  isTransient: (err: unknown) => boolean
  log: (line: string) => void
  signal: AbortSignal
}

type RangeEnd = PipelineEnd | { kind: 'lost' }

const describe = (r: { start: number; end: number }) => `(${r.start}, ${r.end}]`

export class RangeReplay {
  private finished: PipelineCounts = { ...EMPTY_COUNTS }
  private finishedGaps: Gap[] = []
  private current: Consumer | null = null
  private latest: RangeSummary | null = null
  private refreshing: Promise<void> | null = null
  private refreshAgain = false
  /** Ranges this instance marked done. */
  rangesDone = 0

  constructor(private readonly opts: RangeReplayOptions) {}

  /** The consumer of the range being replayed now, if any. */
  get consumer(): Consumer | null {
    return this.current
  }

  /** The whole run's replay as last read. */
  get summary(): RangeSummary | null {
    return this.latest
  }

  /** What this instance's consumers have done, over every range it replayed. */
  get counts(): PipelineCounts {
    const now = this.current?.pipeline.counts
    if (!now) return { ...this.finished }
    const sum = { ...this.finished }
    for (const k of Object.keys(sum) as (keyof PipelineCounts)[]) sum[k] += now[k]
    return sum
  }

  /** The gaps this instance's consumers met, the latest 100. */
  get gaps(): Gap[] {
    return [...this.finishedGaps, ...(this.current?.pipeline.gaps ?? [])].slice(-100)
  }

  async stop(): Promise<void> {
    await this.current?.stop()
  }

  async run(): Promise<PipelineEnd> {
    const { ranges, runId, owner, leaseMs, signal } = this.opts
    await this.refresh()
    while (!signal.aborted) {
      const range = await this.retrying(() => ranges.claim(runId, owner, leaseMs))
      if (signal.aborted) break
      if (!range) {
        await this.refresh()
        const s = this.latest
        if (s && s.done >= s.ranges) return { kind: 'complete' }
        await abortableSleep(this.opts.idleMs, signal)
        continue
      }
      this.opts.log(
        range.takenFrom
          ? `Range ${describe(range)}: taken over from ${range.takenFrom}, whose lease lapsed, at its committed cursor ${range.from}`
          : `Range ${describe(range)}: replaying from cursor ${range.from}`,
      )
      const end = await this.replay(range)
      if (end.kind === 'failed') return end
      if (end.kind === 'lost') {
        this.opts.log(`Range ${describe(range)}: another instance took it over (this lease was not renewed in time); let go`)
        continue
      }
      if (end.kind === 'stopped') break
      const marked = await this.retrying(() => ranges.markDone(range.id, owner))
      if (marked === null) break
      if (marked) {
        this.rangesDone++
        this.opts.log(`Range ${describe(range)}: done, ${range.end - range.from} seqs written by this instance`)
      } else {
        this.opts.log(`Range ${describe(range)}: reached its end, but another instance holds it now; it marks it done`)
      }
      await this.refresh()
    }
    await this.refresh()
    return { kind: 'stopped' }
  }

  /** Reads the run's summary now, moving the run's cursor; one query at a time, the latest request coalesced. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true
      return this.refreshing
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false
        try {
          this.latest = await this.opts.ranges.advance(this.opts.runId, this.opts.headSeq)
        } catch {
          // the database is down: the last summary stands until it is back
        }
      } while (this.refreshAgain)
    })().finally(() => {
      this.refreshing = null
    })
    return this.refreshing
  }

  private async replay(range: ClaimedRange): Promise<RangeEnd> {
    if (range.from >= range.end) return { kind: 'complete' }
    const consumer = this.opts.consumer(range, () => void this.refresh())
    this.current = consumer
    let lost = false
    const renew = setInterval(() => {
      this.opts.ranges
        .renew(range.id, this.opts.owner, this.opts.leaseMs)
        .then((held) => {
          if (held || lost) return
          lost = true
          void consumer.stop()
        })
        .catch(() => {
          // the database is down: the next renewal tries again, and the writes wait for it anyway
        })
    }, this.opts.renewEveryMs)
    try {
      const end = await consumer.run()
      return lost && end.kind !== 'failed' ? { kind: 'lost' } : end
    } finally {
      clearInterval(renew)
      const c = consumer.pipeline.counts
      for (const k of Object.keys(this.finished) as (keyof PipelineCounts)[]) this.finished[k] += c[k]
      this.finishedGaps = [...this.finishedGaps, ...consumer.pipeline.gaps].slice(-100)
      this.current = null
    }
  }

  /** A query of the ranges, retried with backoff while the database is unreachable; null once stopped. */
  private async retrying<T>(query: () => Promise<T>): Promise<T | null> {
    for (let failures = 0; ; failures++) {
      try {
        return await query()
      } catch (err) {
        if (!this.opts.isTransient(err)) throw err
        if (failures === 0) this.opts.log(`Ranges: ${(err as Error).message}; retrying`)
        await abortableSleep(backoffMs(failures, { baseMs: 500, maxMs: 10_000 }), this.opts.signal)
        if (this.opts.signal.aborted) return null
      }
    }
  }
}
