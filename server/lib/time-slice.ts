// Long synchronous stretches (decoding a full socket buffer, validating a big batch) would keep the event loop from
// serving HTTP for their whole length. Work loops check `sliceDue()` and, every few milliseconds of work, yield a turn.
//
// The budget is the process's, not each loop's: the pipeline's loop and each writer's planning used to take a slice
// of their own in the same turn (immediates queued before a turn all run in it), so three loops held the thread for
// three slices before an HTTP request was read. Now the loops that yielded wait in one FIFO queue and each turn of
// the event loop wakes only the first: between any two slices the loop polls I/O, and every loop gets its turns in
// the order it asked for them.
import { setImmediate } from 'node:timers'

/**
 * Longest stretch of sliced work between two turns of the event loop, summed over every work loop. 4 rather than 8:
 * the main thread's CPU per turn during `max` fell from a p99 of 10–12 ms to 8.5–10 ms, and its events per
 * CPU-second did not move beyond the busy machine's noise (BACKFILL_OPTIMIZATION.md).
 */
export const SLICE_MS = 4

/** When the current turn's slice began; work begun outside a turn (in an I/O callback) finds its budget spent. */
let turnStartedAt = Number.NEGATIVE_INFINITY
const waiting: (() => void)[] = []
let turnScheduled = false

function scheduleTurn(): void {
  if (turnScheduled) return
  turnScheduled = true
  // Scheduled from inside a turn, the next immediate runs after the loop has polled I/O again.
  setImmediate(() => {
    turnScheduled = false
    const wake = waiting.shift()
    turnStartedAt = performance.now()
    if (waiting.length > 0) scheduleTurn()
    wake?.()
  })
}

/** True once this turn's slice is used up: the caller should `await yieldSlice()` before doing more. */
export function sliceDue(): boolean {
  return performance.now() - turnStartedAt >= SLICE_MS
}

/** Waits for a turn of the event loop of this caller's own, after every caller that asked before it. */
export function yieldSlice(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve)
    scheduleTurn()
  })
}
