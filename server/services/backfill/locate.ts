// Finds positions in the source's history by probing cursors (see probe.ts): the head, the oldest event still
// held, and the first event at or after a moment. Each search costs a few dozen probes, not a replay.
// Assumes sequencing times grow with seq, which is how relays and PDSes assign them.
import type { Probe } from './probe.js'

export type Position = { seq: number; time: string }

/**
 * The source's head seq. A live source answers a cursor-less subscription at once with its newest event; a quiet
 * one is searched for with cursors: FutureCursor above the head, nothing exactly at it, events below it.
 */
export async function findHead(probe: Probe): Promise<number> {
  const live = await probe(null)
  if (live.kind === 'event') return live.seq
  const atOrBelow = async (cursor: number) => {
    const r = await probe(cursor)
    return r.kind !== 'future'
  }
  if (!(await atOrBelow(0))) return 0
  let lo = 0
  let hi = 1
  while (await atOrBelow(hi)) {
    lo = hi
    hi *= 2
    if (hi > Number.MAX_SAFE_INTEGER / 2) throw new Error('source never answered FutureCursor; cannot find its head')
  }
  // lo is at or below the head, hi above it
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (await atOrBelow(mid)) lo = mid
    else hi = mid
  }
  return lo
}

/** The oldest event the source still holds, or null when it holds none. */
export async function findOldest(probe: Probe): Promise<(Position & { outdated: boolean }) | null> {
  const r = await probe(0)
  return r.kind === 'event' ? { seq: r.seq, time: r.time, outdated: r.outdated } : null
}

/**
 * The cursor to start from so that the first event replayed is the first one sequenced at or after `cutoff`:
 * every event up to the returned cursor is older than the cutoff. `oldest` must be older than the cutoff.
 */
export async function findCursorAt(probe: Probe, cutoff: Date, oldest: Position, head: number): Promise<number> {
  const cutoffMs = cutoff.getTime()
  let lo = oldest.seq // every event <= lo is before the cutoff
  let hi = head + 1 // some event < hi, or none at all, is at or after the cutoff
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    const r = await probe(mid - 1)
    if (r.kind !== 'event') {
      hi = mid
    } else if (Date.parse(r.time) < cutoffMs) {
      lo = Math.max(r.seq, mid)
      if (lo >= hi) hi = lo + 1
    } else {
      hi = mid
    }
  }
  return lo
}
