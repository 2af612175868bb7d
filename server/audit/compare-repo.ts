// The record half of an audit: one repository's CAR keys (key order, with CIDs) merge-joined against the rows the
// database holds for that DID (the same order, a page at a time), so memory is one page and a few examples whatever
// the repository's size. No SQL here: what needs a lookup (was a missing record refused at indexing, or deleted
// after the fetch?) goes through `explain`, in batches, so the merge itself is tested with plain arrays.
//
// A row written by a later commit than the fetched one (rev above it) is no difference: the database is ahead of
// the CAR, not wrong. Neither is a record the indexer refused (kept in rejects) nor one of a collection not indexed.
import type { RepoKey } from '../repos/repo-car.js'
import type { StoredRecord } from '../repos/stored-records.js'

export const RECORD_DIFFERENCE_KINDS = ['missing', 'extra', 'stale'] as const
export type RecordDifferenceKind = (typeof RECORD_DIFFERENCE_KINDS)[number]

/** missing: in the CAR, not in the database; extra: the reverse; stale: both, with another CID. */
export type RecordDifference = {
  kind: RecordDifferenceKind
  /** `collection/rkey` */
  key: string
  carCid: string | null
  dbCid: string | null
  dbRev: string | null
}

/** Why a candidate is no difference after all: refused when indexed (a reject row), or changed after the fetch. */
export type Explanation = 'refused' | 'changed-after-fetch'

export type CompareOptions = {
  /** The fetched commit's rev: rows written by a later commit are ahead of the CAR, not wrong. */
  rev: string
  /** Whether skyfill indexes a collection; records of others are counted, not compared. */
  indexed: (collection: string) => boolean
  /** For missing and stale candidates, in order: why each is no difference, or null when it is one. */
  explain: (candidates: readonly RecordDifference[]) => Promise<(Explanation | null)[]>
  /** Examples kept per kind of difference. */
  examplesPerKind: number
  /** Stale and extra rows kept for a repair (their CIDs), at most this many; 0 keeps none. */
  keepForRepair: number
}

export type RecordComparison = {
  /** Records of the CAR in indexed collections: each compared with its row. */
  compared: number
  matching: number
  /** Records of the CAR in collections skyfill does not index. */
  unindexed: number
  refused: number
  changedAfterFetch: number
  differences: Record<RecordDifferenceKind, number>
  examples: Record<RecordDifferenceKind, RecordDifference[]>
  /** Rows a resync at the fetched rev would not replace (stale, extra, written at or before that rev). */
  repair: { key: string; cid: string }[]
  /** More rows needed a repair than `keepForRepair`. */
  repairTruncated: boolean
}

const EXPLAIN_BATCH = 200

export async function compareRecords(
  car: AsyncIterable<RepoKey>,
  stored: AsyncIterable<StoredRecord>,
  opts: CompareOptions,
): Promise<RecordComparison> {
  const result: RecordComparison = {
    compared: 0,
    matching: 0,
    unindexed: 0,
    refused: 0,
    changedAfterFetch: 0,
    differences: { missing: 0, extra: 0, stale: 0 },
    examples: { missing: [], extra: [], stale: [] },
    repair: [],
    repairTruncated: false,
  }
  const count = (d: RecordDifference) => {
    result.differences[d.kind]++
    if (result.examples[d.kind].length < opts.examplesPerKind) result.examples[d.kind].push(d)
    if (d.kind === 'missing') return
    if (result.repair.length < opts.keepForRepair) result.repair.push({ key: d.key, cid: d.dbCid! })
    else if (opts.keepForRepair > 0) result.repairTruncated = true
  }
  let candidates: RecordDifference[] = []
  const flush = async () => {
    if (candidates.length === 0) return
    const why = await opts.explain(candidates)
    candidates.forEach((d, i) => {
      if (why[i] === 'refused') result.refused++
      else if (why[i] === 'changed-after-fetch') result.changedAfterFetch++
      else count(d)
    })
    candidates = []
  }
  const candidate = async (d: RecordDifference) => {
    candidates.push(d)
    if (candidates.length >= EXPLAIN_BATCH) await flush()
  }
  // A row a later commit wrote: the database moved on after the fetch.
  const rowDifference = async (d: RecordDifference) => {
    if (d.dbRev! > opts.rev) result.changedAfterFetch++
    else if (d.kind === 'stale') await candidate(d)
    else count(d)
  }

  const keys = indexedKeys(car, opts.indexed, () => result.unindexed++)
  const rows = stored[Symbol.asyncIterator]()
  let carKey = await keys.next()
  let row = await rows.next()
  while (!carKey.done || !row.done) {
    if (!carKey.done) {
      const k = carKey.value
      if (row.done || k.key < row.value.key) {
        result.compared++
        await candidate({ kind: 'missing', key: k.key, carCid: k.cid, dbCid: null, dbRev: null })
        carKey = await keys.next()
        continue
      }
      if (k.key === row.value.key) {
        result.compared++
        const r = row.value
        if (r.cid === k.cid) result.matching++
        else await rowDifference({ kind: 'stale', key: k.key, carCid: k.cid, dbCid: r.cid, dbRev: r.rev })
        carKey = await keys.next()
        row = await rows.next()
        continue
      }
    }
    const r = row.value!
    await rowDifference({ kind: 'extra', key: r.key, carCid: null, dbCid: r.cid, dbRev: r.rev })
    row = await rows.next()
  }
  await flush()
  return result
}

/** The CAR's keys of indexed collections, checked to come in strictly increasing order (the merge relies on it). */
async function* indexedKeys(car: AsyncIterable<RepoKey>, indexed: (collection: string) => boolean, skipped: () => void): AsyncGenerator<RepoKey> {
  let previous = ''
  for await (const k of car) {
    if (k.key <= previous) throw new Error(`audit: CAR key "${k.key}" does not sort after "${previous}"`)
    previous = k.key
    if (indexed(k.key.slice(0, k.key.indexOf('/')))) yield k
    else skipped()
  }
}
