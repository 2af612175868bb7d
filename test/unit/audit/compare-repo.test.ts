// The record comparison of an audit, on small repositories given as arrays: what it calls missing, extra and stale,
// what it does not (later commits, refused records, collections not indexed), and what it keeps for a repair.
import { describe, expect, it } from 'vitest'
import { compareRecords, type CompareOptions, type Explanation, type RecordDifference } from '../../../server/audit/compare-repo.js'
import type { RepoKey } from '../../../server/repos/repo-car.js'
import type { StoredRecord } from '../../../server/repos/stored-records.js'

const REV = '3laaaaaaaaaa2'
const EARLIER = '3laaaaaaaaaa1'
const LATER = '3laaaaaaaaaa3'
const POST = 'app.bsky.feed.post'
const LIKE = 'app.bsky.feed.like'

async function* stream<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item
}

const car = (...entries: [string, string][]): RepoKey[] => entries.map(([key, cid]) => ({ key, cid }))
const rows = (...entries: [string, string, string?][]): StoredRecord[] => entries.map(([key, cid, rev]) => ({ key, cid, rev: rev ?? REV }))

function options(overrides: Partial<CompareOptions> = {}): CompareOptions {
  return {
    rev: REV,
    indexed: (collection) => collection.startsWith('app.bsky.'),
    explain: async (candidates) => candidates.map(() => null),
    examplesPerKind: 10,
    keepForRepair: 0,
    ...overrides,
  }
}

const compare = (keys: RepoKey[], stored: StoredRecord[], opts = options()) => compareRecords(stream(keys), stream(stored), opts)

describe('compareRecords', () => {
  it('finds nothing when every record of the repository has its row with the same CID', async () => {
    const keys = car([`${LIKE}/a`, 'c1'], [`${POST}/a`, 'c2'], [`${POST}/b`, 'c3'])
    const result = await compare(keys, rows([`${LIKE}/a`, 'c1'], [`${POST}/a`, 'c2'], [`${POST}/b`, 'c3']))
    expect(result).toMatchObject({ compared: 3, matching: 3, differences: { missing: 0, extra: 0, stale: 0 } })
  })

  it('names a missing record, an extra row and a stale CID, each with its key and CIDs', async () => {
    const keys = car([`${LIKE}/a`, 'c1'], [`${POST}/a`, 'c2'], [`${POST}/c`, 'c4'])
    const stored = rows([`${LIKE}/a`, 'c1'], [`${POST}/b`, 'c3', EARLIER], [`${POST}/c`, 'cX'])
    const result = await compare(keys, stored)
    expect(result.compared).toBe(3)
    expect(result.matching).toBe(1)
    expect(result.differences).toEqual({ missing: 1, extra: 1, stale: 1 })
    expect(result.examples).toEqual({
      missing: [{ kind: 'missing', key: `${POST}/a`, carCid: 'c2', dbCid: null, dbRev: null }],
      extra: [{ kind: 'extra', key: `${POST}/b`, carCid: null, dbCid: 'c3', dbRev: EARLIER }],
      stale: [{ kind: 'stale', key: `${POST}/c`, carCid: 'c4', dbCid: 'cX', dbRev: REV }],
    })
  })

  it('counts rows a later commit wrote as changed after the fetch, not as differences', async () => {
    const keys = car([`${POST}/a`, 'c1'])
    const result = await compare(keys, rows([`${POST}/a`, 'c9', LATER], [`${POST}/z`, 'c8', LATER]))
    expect(result.changedAfterFetch).toBe(2)
    expect(result.differences).toEqual({ missing: 0, extra: 0, stale: 0 })
  })

  it('takes what explain says of missing and stale candidates: refused, or deleted after the fetch', async () => {
    const asked: RecordDifference[] = []
    const explain = async (candidates: readonly RecordDifference[]): Promise<(Explanation | null)[]> => {
      asked.push(...candidates)
      return candidates.map((c) => (c.key.endsWith('/r') ? 'refused' : c.key.endsWith('/d') ? 'changed-after-fetch' : null))
    }
    const keys = car([`${POST}/d`, 'c1'], [`${POST}/m`, 'c2'], [`${POST}/r`, 'c3'])
    const result = await compare(keys, rows([`${POST}/r`, 'old', EARLIER]), options({ explain }))
    expect(asked.map((c) => `${c.kind} ${c.key}`)).toEqual([`missing ${POST}/d`, `missing ${POST}/m`, `stale ${POST}/r`])
    expect(result).toMatchObject({ refused: 1, changedAfterFetch: 1, differences: { missing: 1, extra: 0, stale: 0 } })
  })

  it('counts records of collections not indexed without comparing them', async () => {
    const keys = car([`${POST}/a`, 'c1'], ['com.example.thing/x', 'c2'], ['com.example.thing/y', 'c3'])
    const result = await compare(keys, rows([`${POST}/a`, 'c1']))
    expect(result).toMatchObject({ compared: 1, matching: 1, unindexed: 2 })
  })

  it('keeps examples up to the limit per kind but counts them all', async () => {
    const keys = car(...Array.from({ length: 7 }, (_, i): [string, string] => [`${POST}/m${i}`, `c${i}`]))
    const result = await compare(keys, [], options({ examplesPerKind: 2 }))
    expect(result.differences.missing).toBe(7)
    expect(result.examples.missing.map((e) => e.key)).toEqual([`${POST}/m0`, `${POST}/m1`])
  })

  it('keeps the stale and extra rows for a repair, up to its limit, and says when there were more', async () => {
    const keys = car([`${POST}/a`, 'c1'], [`${POST}/b`, 'c2'])
    const stored = rows([`${POST}/a`, 'x1'], [`${POST}/b`, 'x2'], [`${POST}/c`, 'x3'])
    const all = await compare(keys, stored, options({ keepForRepair: 10 }))
    expect([...all.repair].sort((x, y) => x.key.localeCompare(y.key))).toEqual([{ key: `${POST}/a`, cid: 'x1' }, { key: `${POST}/b`, cid: 'x2' }, { key: `${POST}/c`, cid: 'x3' }])
    expect(all.repairTruncated).toBe(false)
    const some = await compare(keys, stored, options({ keepForRepair: 2 }))
    expect(some.repair).toHaveLength(2)
    expect(some.repairTruncated).toBe(true)
  })

  it('refuses a CAR whose keys are out of order, naming them', async () => {
    await expect(compare(car([`${POST}/b`, 'c1'], [`${POST}/a`, 'c2']), [])).rejects.toThrow(`CAR key "${POST}/a" does not sort after "${POST}/b"`)
  })
})
