// The batcher's spans: each batch says which seqs of its stream it holds every frame of, (afterSeq, lastSeq], so
// consecutive batches meet without a seam whatever seqs the source skips, and the first follows the start cursor.
import { describe, expect, it } from 'vitest'
import { Batcher } from '../../../server/pipeline/batcher.js'
import type { DecodedFrame } from '../../../server/events/index.js'

const frame = (seq: number | null): DecodedFrame => ({ seq, time: null, items: [] })

describe('Batcher spans', () => {
  it('start the first batch after the cursor the stream started from, and each next one at the last seq before it', () => {
    const batcher = new Batcher(100)
    for (const seq of [103, 104]) batcher.add(frame(seq))
    expect(batcher.take()).toMatchObject({ afterSeq: 100, lastSeq: 104 })
    for (const seq of [110, null, 111]) batcher.add(frame(seq))
    expect(batcher.take()).toMatchObject({ afterSeq: 104, lastSeq: 111 })
    batcher.add(frame(null))
    expect(batcher.take()).toMatchObject({ afterSeq: 111, lastSeq: null })
    batcher.add(frame(112))
    expect(batcher.take()).toMatchObject({ afterSeq: 111, lastSeq: 112 })
  })

  it('leave the first span open below when the stream started from no cursor', () => {
    const batcher = new Batcher(null)
    batcher.add(frame(7))
    expect(batcher.take()).toMatchObject({ afterSeq: null, lastSeq: 7 })
  })
})
