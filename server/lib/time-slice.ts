// Long synchronous stretches (decoding a full socket buffer, validating a big batch) would keep the event loop from
// serving HTTP for their whole length. Work loops check `due()` and, every few milliseconds of work, yield a turn.
import { setImmediate as nextTurn } from 'node:timers/promises'

/** Longest stretch of work between two turns of the event loop. */
export const SLICE_MS = 8

export class TimeSlice {
  private startedAt = performance.now()

  constructor(private readonly budgetMs = SLICE_MS) {}

  due(): boolean {
    return performance.now() - this.startedAt >= this.budgetMs
  }

  async yield(): Promise<void> {
    await nextTurn()
    this.startedAt = performance.now()
  }
}
