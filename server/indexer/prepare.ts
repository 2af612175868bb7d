// Turns one batch of pipeline items into a write plan: validated rows per table, deletes, actor changes and
// rejects, each de-duplicated and sorted by key. Pure: no database, so the ordering rules are tested directly.
//
// De-duplication keeps, per record URI, the op with the highest repo rev (then the highest seq): within a batch the
// later op wins, exactly as it would if the ops were applied one by one. Sorting by key is what keeps concurrent
// writers from deadlocking on overlapping upserts.
import type { AccountStatus, PipelineItem, RecordOp, Reject, RejectCategory, RepoPosition } from '../events/index.js'
import { type PositionEvent, revCeiling } from './repo-chain.js'
import { moduleFor } from './records/index.js'
import { RecordRejection, type ColumnValue, type RecordModule } from './records/types.js'
import { validateRecord } from './validate.js'
import { boundedDetail } from './detail.js'
import { sliceDue, yieldSlice } from '../lib/time-slice.js'

export type RowWrite = {
  uri: string
  did: string
  rkey: string
  rev: string
  cid: string
  seq: number
  values: ColumnValue[]
  /** The record as decoded, kept only to describe it should Postgres refuse the row. */
  record: unknown
}
export type DeleteWrite = { uri: string; did: string; rev: string; seq: number }
export type RejectRow = {
  seq: number | null
  seqKnown: boolean
  category: RejectCategory
  reason: string
  did: string | null
  uri: string | null
  collection: string | null
  detail: unknown
}
/** One repo's #commit/#sync positions of the batch, for repo-chain.ts to apply in rev order. */
export type PositionWrites = { did: string; events: PositionEvent[] }
export type TableWrites = { module: RecordModule; upserts: RowWrite[]; deletes: DeleteWrite[] }
/** The seqs of the firehose whose every frame a batch holds: (after, through]. */
export type SeqSpan = { after: number; through: number }
/** A batch's ops on one collection we do not index, by seq (0: no firehose seq, a repository walk's). */
export type UnindexedOps = { collection: string; seqs: number[] }

export type WritePlan = {
  /** Every DID the batch mentions, so each has an actors row (profiles are served for them). */
  dids: string[]
  handles: { did: string; handle: string | null; seq: number }[]
  statuses: { did: string; status: AccountStatus; seq: number }[]
  tables: TableWrites[]
  unindexed: UnindexedOps[]
  /**
   * The seqs of the firehose the batch holds every frame of, so that a replay counts only unindexed ops outside what
   * was counted already; null for a batch of no seq (a repository walk). Never split: one transaction counts them.
   */
  span: SeqSpan | null
  /** Sorted by DID, so concurrent writers lock positions in one order. */
  positions: PositionWrites[]
  rejects: RejectRow[]
}

const byKey = <T>(key: (t: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)

/** True when op `a` comes after op `b` in its repo's history. */
function isLater(a: RecordOp, b: RecordOp): boolean {
  if (a.rev !== b.rev) return a.rev > b.rev
  return a.seq >= b.seq
}

function latestPerKey<T extends { did: string; seq: number }>(items: T[]): T[] {
  const latest = new Map<string, T>()
  for (const item of items) {
    const seen = latest.get(item.did)
    if (!seen || item.seq >= seen.seq) latest.set(item.did, item)
  }
  return [...latest.values()].sort(byKey((t) => t.did))
}

function rejectRow(r: Reject, lastSeq: number | null): RejectRow {
  return {
    seq: r.seq ?? r.seqBefore ?? lastSeq,
    seqKnown: r.seq !== null,
    category: r.category,
    reason: r.reason,
    did: r.did,
    uri: r.uri,
    collection: r.collection,
    detail: r.detail,
  }
}

const FUTURE_REV_REASON = 'rev is more than 5 minutes past the clock: refused (sync spec)'

function futureRevReject(item: RecordOp | RepoPosition): RejectRow {
  const uri = item.kind === 'commit' || item.kind === 'sync' ? null : item.uri
  const collection = item.kind === 'commit' || item.kind === 'sync' ? null : item.collection
  return { seq: item.seq, seqKnown: true, category: 'verify', reason: FUTURE_REV_REASON, did: item.did, uri, collection, detail: { rev: item.rev } }
}

function positionEvent(item: RepoPosition): PositionEvent {
  if (item.kind === 'sync') return { kind: 'sync', seq: item.seq, rev: item.rev, data: item.data }
  return { kind: 'commit', seq: item.seq, rev: item.rev, since: item.since, prevData: item.prevData, data: item.data }
}

function recordReject(op: RecordOp, reason: string, record: unknown): RejectRow {
  return {
    seq: op.seq,
    seqKnown: true,
    category: 'record',
    reason,
    did: op.did,
    uri: op.uri,
    collection: op.collection,
    detail: boundedDetail(record),
  }
}

/** The seqs a batch covers, from the seq it follows in its stream or else its own first seq; null without a seq. */
function batchSpan(items: readonly PipelineItem[], lastSeq: number | null, afterSeq: number | null): SeqSpan | null {
  if (lastSeq === null || lastSeq <= 0) return null
  if (afterSeq !== null) return { after: afterSeq, through: lastSeq }
  let first = lastSeq
  for (const item of items) if (item.seq !== null && item.seq > 0 && item.seq < first) first = item.seq
  return { after: first - 1, through: lastSeq }
}

/**
 * @param lastSeq the highest seq of the batch, recorded for rejects of frames too broken to tell their own seq.
 * @param afterSeq the seq the batch's frames follow in their stream (CursorCommit.afterSeq); null: not known.
 * @param nowMs the clock revs are checked against: a rev far past it is refused with its ops.
 */
export async function prepareBatch(
  items: readonly PipelineItem[],
  lastSeq: number | null,
  afterSeq: number | null = null,
  nowMs = Date.now(),
): Promise<WritePlan> {
  const dids = new Set<string>()
  const handles: WritePlan['handles'] = []
  const statuses: WritePlan['statuses'] = []
  const rejects: RejectRow[] = []
  const winners = new Map<string, RecordOp>()
  const unindexed = new Map<string, UnindexedOps>()
  const span = batchSpan(items, lastSeq, afterSeq)
  const positions = new Map<string, PositionEvent[]>()
  const ceiling = revCeiling(nowMs)

  for (const item of items) {
    if ((item.kind === 'create' || item.kind === 'update' || item.kind === 'delete' || item.kind === 'commit' || item.kind === 'sync') && item.rev > ceiling) {
      rejects.push(futureRevReject(item))
      continue
    }
    switch (item.kind) {
      case 'identity':
        dids.add(item.did)
        handles.push({ did: item.did, handle: item.handle, seq: item.seq })
        break
      case 'account':
        dids.add(item.did)
        statuses.push({ did: item.did, status: item.status, seq: item.seq })
        break
      case 'reject':
        rejects.push(rejectRow(item, lastSeq))
        break
      case 'commit':
      case 'sync': {
        dids.add(item.did)
        const list = positions.get(item.did)
        if (list) list.push(positionEvent(item))
        else positions.set(item.did, [positionEvent(item)])
        break
      }
      case 'create':
      case 'update':
      case 'delete': {
        if (!moduleFor(item.collection)) {
          const ops = unindexed.get(item.collection) ?? { collection: item.collection, seqs: [] }
          ops.seqs.push(item.seq)
          unindexed.set(item.collection, ops)
          break
        }
        dids.add(item.did)
        const seen = winners.get(item.uri)
        if (!seen || isLater(item, seen)) winners.set(item.uri, item)
        break
      }
      default: {
        const unknown: never = item
        throw new Error(`unhandled pipeline item ${JSON.stringify(unknown)}`)
      }
    }
  }

  const tables = new Map<string, TableWrites>()
  const tableFor = (module: RecordModule) => {
    let t = tables.get(module.table)
    if (!t) tables.set(module.table, (t = { module, upserts: [], deletes: [] }))
    return t
  }
  for (const op of winners.values()) {
    // Validating a few thousand records takes long enough to be felt by HTTP requests: yield now and then.
    if (sliceDue()) await yieldSlice()
    const module = moduleFor(op.collection)!
    if (op.kind === 'delete') {
      tableFor(module).deletes.push({ uri: op.uri, did: op.did, rev: op.rev, seq: op.seq })
      continue
    }
    const valid = validateRecord(op.collection, op.record)
    if (!valid.ok) {
      rejects.push(recordReject(op, valid.reason, op.record))
      continue
    }
    let row: Record<string, ColumnValue>
    try {
      row = module.toRow(op)
    } catch (err) {
      if (!(err instanceof RecordRejection)) throw err
      rejects.push(recordReject(op, err.message, op.record))
      continue
    }
    tableFor(module).upserts.push({
      uri: op.uri,
      did: op.did,
      rkey: op.rkey,
      rev: op.rev,
      cid: op.cid,
      seq: op.seq,
      values: Object.keys(module.columns).map((name) => row[name] ?? null),
      record: op.record,
    })
  }

  for (const t of tables.values()) {
    t.upserts.sort(byKey((r) => r.uri))
    t.deletes.sort(byKey((d) => d.uri))
  }
  return {
    dids: [...dids].sort(),
    handles: latestPerKey(handles),
    statuses: latestPerKey(statuses),
    tables: [...tables.values()].sort(byKey((t) => t.module.table)),
    unindexed: [...unindexed.values()].sort(byKey((u) => u.collection)),
    span,
    positions: [...positions].map(([did, events]) => ({ did, events })).sort(byKey((w) => w.did)),
    rejects,
  }
}
