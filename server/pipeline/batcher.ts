// Collects decoded frames into batches of `size` frames. Holds at most one batch: the pipeline dispatches it (and
// waits for a writer slot) before it pulls another frame, so the batcher's memory is bounded by the batch size.
import type { DecodedFrame, PipelineItem } from '../events/index.js'

/**
 * `afterSeq`: the seq of the stream's last frame before this batch (the cursor it started from, for its first batch):
 * the batch holds every frame of its stream with a seq in (afterSeq, lastSeq].
 */
export type Batch = { items: PipelineItem[]; frames: number; lastSeq: number | null; afterSeq: number | null }

export class Batcher {
  private items: PipelineItem[] = []
  private frames = 0
  private lastSeq: number | null = null
  /** The last seq added, across batches: where a frame too broken to tell its own seq was in the stream. */
  private lastSeen: number | null = null
  private afterSeq: number | null

  /** `startSeq`: the seq the stream starts after (the cursor it resumes from). */
  constructor(private readonly startSeq: number | null = null) {
    this.afterSeq = startSeq
  }

  add(frame: DecodedFrame): void {
    if (this.frames === 0) this.afterSeq = this.lastSeen ?? this.startSeq
    for (const item of frame.items) {
      this.items.push(frame.seq === null && item.kind === 'reject' && item.seq === null ? { ...item, seqBefore: this.lastSeen } : item)
    }
    this.frames++
    if (frame.seq !== null) {
      this.lastSeq = frame.seq
      this.lastSeen = frame.seq
    }
  }

  get size(): number {
    return this.frames
  }

  isFull(batchSize: number): boolean {
    return this.frames >= batchSize
  }

  take(): Batch {
    const batch = { items: this.items, frames: this.frames, lastSeq: this.lastSeq, afterSeq: this.afterSeq }
    this.items = []
    this.frames = 0
    this.lastSeq = null
    return batch
  }
}
