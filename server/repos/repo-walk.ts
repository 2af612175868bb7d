// A repository's records as the pipeline's op vocabulary: the MST walked in key order, each record a CreateOp
// carrying the commit's rev (so the writer's ordering contract treats it like a firehose op of that rev), or a
// Reject saying why it cannot be indexed. Chunked: only one chunk of records is decoded at a time; and sliced
// (time-slice.ts): decoding a chunk of big records takes longer than a slice, so the walk yields between records
// whenever the process's slice is used up, sharing it with the pipeline's and the writers' loops.
import { decode } from '@atproto/lex-cbor'
import type { CID } from 'multiformats/cid'
import type { CreateOp, PipelineItem, RecordValue, Reject, RejectCategory } from '../events/index.js'
import { REASON, errorMessage } from '../pipeline/decoder/items.js'
import { parseOpPath } from '../pipeline/decoder/ops.js'
import { sliceDue, yieldSlice } from '../lib/time-slice.js'
import type { BlockStore, StoredBlock } from './block-store.js'
import { type MstEntry, cidString, mstEntries } from './mst-walk.js'

export type WalkContext = {
  store: BlockStore
  data: CID
  did: string
  rev: string
  maxRecordBytes: number
  partial: boolean
  signal?: AbortSignal
}

export type WalkOptions = {
  /** The `time` of every item: when the walk's data was fetched. */
  time: string
  /** Items per yielded chunk, at least 1. */
  chunkRecords: number
}

const DETAIL_PATH_CHARS = 300

export async function* walkRecords(ctx: WalkContext, opts: WalkOptions): AsyncGenerator<PipelineItem[], void, undefined> {
  if (!Number.isInteger(opts.chunkRecords) || opts.chunkRecords < 1) {
    throw new RangeError(`chunkRecords must be an integer of at least 1, got ${opts.chunkRecords}`)
  }
  let items: PipelineItem[] = []
  let entries = 0
  for (const entry of mstEntries(ctx.store, ctx.data, { partial: ctx.partial, signal: ctx.signal })) {
    const item = recordItem(ctx, entry, ctx.store.get(entry.cid.bytes), opts.time)
    if (item) items.push(item)
    if (++entries === opts.chunkRecords) {
      entries = 0
      if (items.length > 0) yield items
      items = []
    }
    if (sliceDue()) await yieldSlice()
  }
  if (items.length > 0) yield items
}

function recordItem(ctx: WalkContext, entry: MstEntry, block: StoredBlock | undefined, time: string): PipelineItem | null {
  const target = parseOpPath(entry.key)
  if (!target) return reject(ctx, entry, time, 'record', REASON.badPath)
  // In a `since` diff an absent record was written before the window: there is nothing to say about it.
  if (!block) return ctx.partial ? null : reject(ctx, entry, time, 'car', REASON.missingBlock)
  const size = block.kind === 'block' ? block.bytes.length : block.length
  if (block.kind === 'oversize' || size > ctx.maxRecordBytes) {
    return reject(ctx, entry, time, 'record', `record block is ${size} bytes, over the ${ctx.maxRecordBytes}-byte cap`)
  }
  let record: unknown
  try {
    record = decode(block.bytes)
  } catch (err) {
    return reject(ctx, entry, time, 'record', `record block is not DAG-CBOR: ${errorMessage(err)}`)
  }
  if (!isPlainMap(record)) return reject(ctx, entry, time, 'record', 'record is not a map')
  const { collection, rkey } = target
  return {
    kind: 'create',
    seq: 0,
    time,
    did: ctx.did,
    rev: ctx.rev,
    collection,
    rkey,
    uri: `at://${ctx.did}/${entry.key}`,
    cid: cidString(entry.cid),
    record,
  } satisfies CreateOp
}

function reject(ctx: WalkContext, entry: MstEntry, time: string, category: RejectCategory, reason: string): Reject {
  const target = parseOpPath(entry.key)
  const path = entry.key.length > DETAIL_PATH_CHARS ? `${entry.key.slice(0, DETAIL_PATH_CHARS)}…` : entry.key
  return {
    kind: 'reject',
    seq: 0,
    time,
    did: ctx.did,
    uri: target ? `at://${ctx.did}/${entry.key}` : null,
    collection: target?.collection ?? null,
    category,
    reason,
    detail: { path, cid: cidString(entry.cid), rev: ctx.rev },
  }
}

function isPlainMap(value: unknown): value is RecordValue {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
