import { describe, expect, it } from 'vitest'
import { CommitTracker } from '../../../server/pipeline/commit-tracker.js'

describe('the commit tracker', () => {
  it('advances only past a prefix of committed batches', () => {
    const t = new CommitTracker(10)
    const a = t.dispatch(20)
    const b = t.dispatch(30)
    const c = t.dispatch(40)
    t.complete(b)
    expect(t.committedSeq).toBe(10)
    t.complete(a)
    expect(t.committedSeq).toBe(30)
    t.complete(c)
    expect(t.committedSeq).toBe(40)
  })

  it('lets a batch write its own last seq only when every earlier batch has committed', () => {
    const t = new CommitTracker(null)
    const a = t.dispatch(5)
    const b = t.dispatch(9)
    expect(t.seqIfCommitted(b)).toBeNull()
    expect(t.seqIfCommitted(a)).toBe(5)
    t.complete(b)
    // a committing now covers b, which already committed
    expect(t.seqIfCommitted(a)).toBe(9)
  })

  it('skips batches that carry no seq', () => {
    const t = new CommitTracker(3)
    const a = t.dispatch(null)
    const b = t.dispatch(8)
    t.complete(a)
    expect(t.committedSeq).toBe(3)
    t.complete(b)
    expect(t.committedSeq).toBe(8)
  })
})
