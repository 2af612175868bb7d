// Knows which dispatched batches have committed, so the cursor only ever names a seq below which everything is
// written or rejected (invariant 2), even when batches commit out of order. Holds one entry per batch in flight:
// bounded by the writer's concurrency.
type Entry = { id: number; lastSeq: number | null; done: boolean }

export class CommitTracker {
  private readonly inFlight: Entry[] = []
  private nextId = 1
  private committed: number | null

  constructor(startSeq: number | null) {
    this.committed = startSeq
  }

  /** The highest seq below which every dispatched batch has committed. */
  get committedSeq(): number | null {
    return this.committed
  }

  /** Batches must be dispatched in seq order. */
  dispatch(lastSeq: number | null): number {
    const id = this.nextId++
    this.inFlight.push({ id, lastSeq, done: false })
    return id
  }

  /** The cursor batch `id` may write in its own transaction, were it to commit now. */
  seqIfCommitted(id: number): number | null {
    let seq = this.committed
    for (const entry of this.inFlight) {
      if (!entry.done && entry.id !== id) break
      if (entry.lastSeq !== null) seq = entry.lastSeq
    }
    return seq
  }

  complete(id: number): void {
    const entry = this.inFlight.find((e) => e.id === id)
    if (!entry) throw new Error(`batch ${id} is not in flight`)
    entry.done = true
    while (this.inFlight[0]?.done) {
      const head = this.inFlight.shift()!
      if (head.lastSeq !== null) this.committed = head.lastSeq
    }
  }
}
