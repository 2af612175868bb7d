// The replay window cut into seq ranges: together they cover (start, head] exactly once, each range ends where the
// next begins, and a small window stays one range.
import { describe, expect, it } from 'vitest'
import { DEFAULT_RANGE_SPLIT, initialCursor, splitWindow, type SeqRange } from '../../../server/services/backfill/range-split.js'

/** Every seq the ranges hold, in order, with repeats kept. */
function seqsOf(ranges: SeqRange[]): number[] {
  return ranges.flatMap((r) => Array.from({ length: r.end - r.start }, (_, i) => r.start + 1 + i))
}

describe('splitWindow', () => {
  it('covers every seq of the window exactly once, for windows of any size and any split', () => {
    const splits = [DEFAULT_RANGE_SPLIT, { maxRanges: 8, minSeqs: 1 }, { maxRanges: 3, minSeqs: 7 }, { maxRanges: 1, minSeqs: 1 }]
    for (const split of splits) {
      for (const start of [0, 17, 1_000_000]) {
        for (let size = 0; size <= 60; size++) {
          const ranges = splitWindow(start, start + size, split)
          expect(seqsOf(ranges), `start ${start} size ${size} ${JSON.stringify(split)}`).toEqual(
            Array.from({ length: size }, (_, i) => start + 1 + i),
          )
          ranges.slice(1).forEach((r, i) => expect(r.start).toBe(ranges[i]!.end))
          expect(ranges.every((r) => r.end > r.start)).toBe(true)
          expect(ranges.length).toBeLessThanOrEqual(split.maxRanges)
        }
      }
    }
  })

  it('cuts a large window into maxRanges ranges of about the same size', () => {
    const ranges = splitWindow(1000, 1000 + 16_003)
    expect(ranges).toHaveLength(8)
    expect(ranges[0]!.start).toBe(1000)
    expect(ranges.at(-1)!.end).toBe(17_003)
    const sizes = ranges.map((r) => r.end - r.start)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
  })

  it('keeps a window of fewer than twice minSeqs as one range, and never cuts a range below minSeqs', () => {
    expect(splitWindow(0, 3999)).toEqual([{ start: 0, end: 3999 }])
    expect(splitWindow(0, 4000)).toEqual([
      { start: 0, end: 2000 },
      { start: 2000, end: 4000 },
    ])
    for (const size of [1, 1999, 2000, 5000, 15_999, 16_000, 1_000_000]) {
      const ranges = splitWindow(0, size)
      if (ranges.length > 1) expect(Math.min(...ranges.map((r) => r.end - r.start))).toBeGreaterThanOrEqual(DEFAULT_RANGE_SPLIT.minSeqs)
    }
  })

  it('has no range for an empty window, and refuses seqs that are not integers', () => {
    expect(splitWindow(500, 500)).toEqual([])
    expect(splitWindow(500, 400)).toEqual([])
    expect(() => splitWindow(0.5, 10)).toThrow(/start must be an integer seq, got 0.5/)
    expect(() => splitWindow(0, 10, { maxRanges: 0, minSeqs: 1 })).toThrow(/maxRanges and minSeqs must be integers ≥ 1/)
  })
})

describe('initialCursor', () => {
  it('starts each range at a single cursor carried over from an earlier run, clamped to the range', () => {
    const range = { start: 100, end: 200 }
    expect(initialCursor(range, null)).toBe(100)
    expect(initialCursor(range, 50)).toBe(100)
    expect(initialCursor(range, 150)).toBe(150)
    expect(initialCursor(range, 250)).toBe(200)
  })
})
