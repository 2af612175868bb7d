// The sync spec's chain rules, without a database: what a commit or #sync does to a repo's position.
import { TID } from '@atproto/common'
import { describe, expect, it } from 'vitest'
import {
  EMPTY_POSITION,
  GAP_REASON,
  MAX_HOLES,
  type Position,
  type PositionEvent,
  SYNC_OUTCOME,
  advance,
  revCeiling,
} from '../../../server/indexer/repo-chain.js'
import { permutations, rev } from '../../support/ops.js'

const data = (n: number) => `data-${n}`

/** The commit with rev n of a linear chain: since n-1, prevData the data of n-1 (none before the first). */
function commit(n: number, overrides: Partial<Extract<PositionEvent, { kind: 'commit' }>> = {}): PositionEvent {
  return { kind: 'commit', seq: 100 + n, rev: rev(n), since: n > 1 ? rev(n - 1) : null, prevData: n > 1 ? data(n - 1) : null, data: data(n), ...overrides }
}

const at = (n: number): Position => ({ ...EMPTY_POSITION, rev: rev(n), data: data(n) })

describe('following a repo commit by commit', () => {
  it("takes a repo's first commit as its position", () => {
    const out = advance(EMPTY_POSITION, [commit(3)])
    expect(out.position).toEqual(at(3))
    expect(out.records).toEqual([])
  })

  it('moves the position along a chain, whatever order the batch lists it in', () => {
    const out = advance(at(1), [commit(4), commit(2), commit(3)])
    expect(out.position).toEqual(at(4))
    expect(out.records).toEqual([])
  })

  it('treats a commit at or below the applied rev as a duplicate: nothing changes', () => {
    const out = advance(at(5), [commit(5), commit(3)])
    expect(out).toEqual({ position: at(5), records: [], changed: false, stateChanged: false })
  })

  it('opens a hole for a commit whose predecessor has not landed, and the predecessor closes it', () => {
    const ahead = advance(at(1), [commit(3)])
    expect(ahead.position).toMatchObject({ rev: rev(3), state: 'active', holes: [{ after: rev(1), before: rev(2), seq: 103 }] })
    const filled = advance(ahead.position, [commit(2)])
    expect(filled.position).toEqual(at(3))
  })

  it('a commit landing inside a hole splits it: the commits on both sides are still awaited', () => {
    const out = advance(at(1), [commit(5)])
    const split = advance(out.position, [commit(3)])
    expect(split.position.holes).toEqual([
      { after: rev(1), afterData: data(1), before: rev(2), beforePrevData: data(2), seq: 103 },
      { after: rev(3), afterData: data(3), before: rev(4), beforePrevData: data(4), seq: 105 },
    ])
  })

  it('commits landing one by one in every order leave the same position, with no hole and no gap', () => {
    for (const order of permutations([2, 3, 4, 5])) {
      let position = at(1)
      for (const n of order) position = advance(position, [commit(n)]).position
      expect(position, `order ${order}`).toEqual(at(5))
    }
  })

  it('desynchronizes a commit whose since is older than the applied rev', () => {
    const out = advance(at(4), [commit(5, { since: rev(2) })])
    expect(out.position).toMatchObject({ rev: rev(5), state: 'desynchronized', reason: GAP_REASON.sinceMismatch })
    expect(out.records).toEqual([
      { category: 'gap', seq: 105, reason: GAP_REASON.sinceMismatch, detail: { rev: rev(5), since: rev(2), after: rev(4) }, resolved: false },
    ])
    expect(out.stateChanged).toBe(true)
  })

  it('desynchronizes a commit whose prevData is not the data applied, though its since matches', () => {
    const out = advance(at(4), [commit(5, { prevData: 'other' })])
    expect(out.position).toMatchObject({ state: 'desynchronized', reason: GAP_REASON.prevDataMismatch })
    expect(out.position.gap).toMatchObject({ prevData: 'other', expected: data(4) })
  })

  it("desynchronizes a late predecessor whose data is not what its successor's prevData said", () => {
    const ahead = advance(at(1), [commit(3)]).position
    const out = advance(ahead, [commit(2, { data: 'forked' })])
    expect(out.position).toMatchObject({ rev: rev(3), state: 'desynchronized', reason: GAP_REASON.prevDataMismatch })
  })

  it('gives up following past MAX_HOLES commits out of order', () => {
    let position = at(1)
    for (let i = 0; i <= MAX_HOLES; i++) position = advance(position, [commit(3 + 2 * i)]).position
    expect(position).toMatchObject({ state: 'desynchronized', reason: GAP_REASON.tooManyHoles, holes: [] })
  })

  it('once out of sync, only moves the rev forward: the resync sets the rest right', () => {
    const out = advance({ ...at(4), state: 'resyncing' }, [commit(9, { since: rev(7) }), commit(2)])
    expect(out.position).toEqual({ ...at(9), state: 'resyncing' })
    expect(out.records).toEqual([])
  })
})

describe('#sync events', () => {
  const sync = (n: number, d: string): PositionEvent => ({ kind: 'sync', seq: 200 + n, rev: rev(n), data: d })

  it('a newer #sync with other data desynchronizes the repo, and is recorded unresolved', () => {
    const out = advance(at(4), [sync(6, 'new-data')])
    expect(out.position).toMatchObject({ rev: rev(6), data: 'new-data', state: 'desynchronized' })
    expect(out.records).toMatchObject([{ category: 'sync', seq: 206, resolved: false, detail: { outcome: SYNC_OUTCOME.differs } }])
  })

  it('a newer #sync with the same data only moves the rev, recorded as resolved', () => {
    const out = advance(at(4), [sync(6, data(4))])
    expect(out.position).toEqual({ ...at(4), rev: rev(6) })
    expect(out.records).toMatchObject([{ category: 'sync', resolved: true, detail: { outcome: SYNC_OUTCOME.sameData } }])
  })

  it("the #sync repeating an account's first commit changes nothing", () => {
    const out = advance(EMPTY_POSITION, [commit(1), sync(1, data(1))])
    expect(out.position).toEqual(at(1))
    expect(out.records).toMatchObject([{ category: 'sync', resolved: true, detail: { outcome: SYNC_OUTCOME.duplicate } }])
  })
})

describe('revs from the future', () => {
  it('accepts a rev up to 5 minutes past the clock and no further', () => {
    const now = Date.UTC(2026, 0, 1)
    const tid = (ms: number) => TID.fromTime(ms * 1000, 0).toString()
    expect(tid(now + 4 * 60_000) <= revCeiling(now)).toBe(true)
    expect(tid(now + 6 * 60_000) <= revCeiling(now)).toBe(false)
  })
})
