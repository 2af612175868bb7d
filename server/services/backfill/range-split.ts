// How a run's replay window is cut into seq ranges that instances claim one at a time. Pure, so that "the ranges
// cover the window exactly once" is tested for every size without a database.
//
// A range is (start, end]: it holds the seqs after its start up to and including its end, and ends where the next
// begins. A small window stays one range (one consumer, as a single instance always replayed); a large one is cut
// into at most `maxRanges` ranges of at least `minSeqs` each, so a few instances share it without a connection per
// handful of events.

export type SeqRange = { start: number; end: number }

export type RangeSplit = { maxRanges: number; minSeqs: number }

export const DEFAULT_RANGE_SPLIT: RangeSplit = { maxRanges: 8, minSeqs: 2000 }

/** The ranges covering (start, head], in seq order; none when the window is empty. */
export function splitWindow(start: number, head: number, split: RangeSplit = DEFAULT_RANGE_SPLIT): SeqRange[] {
  for (const [name, v] of [['start', start], ['head', head]] as const) {
    if (!Number.isSafeInteger(v)) throw new Error(`splitWindow: ${name} must be an integer seq, got ${v}`)
  }
  if (!Number.isInteger(split.maxRanges) || split.maxRanges < 1 || !Number.isInteger(split.minSeqs) || split.minSeqs < 1) {
    throw new Error(`splitWindow: maxRanges and minSeqs must be integers ≥ 1, got ${split.maxRanges} and ${split.minSeqs}`)
  }
  const size = head - start
  if (size <= 0) return []
  const count = Math.max(1, Math.min(split.maxRanges, Math.floor(size / split.minSeqs)))
  const ranges: SeqRange[] = []
  for (let i = 0; i < count; i++) {
    ranges.push({ start: start + Math.floor((size * i) / count), end: start + Math.floor((size * (i + 1)) / count) })
  }
  return ranges
}

/**
 * Where a range's committed cursor starts when a run already had a single cursor (a run persisted before ranges, or
 * resumed from one): everything up to `committed` is written, so each range starts at it, clamped to the range.
 */
export function initialCursor(range: SeqRange, committed: number | null): number {
  if (committed === null) return range.start
  return Math.max(range.start, Math.min(range.end, committed))
}
