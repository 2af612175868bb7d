// Small hand-built frames for edge cases. Commits here carry records and an unsigned commit block naming a data CID,
// but no MST: neither the lean nor the unauthenticated decoder checks those, and the signed workload comes from
// bench/source.
import { BlockMap, blocksToCarFile } from '@atproto/repo'
import { encodeMessageFrame } from '../../../bench/source/frames.js'
import { createLeanDecoder } from '../../../server/pipeline/decoder/lean.js'
import { createSyncDecoder } from '../../../server/pipeline/decoder/sync.js'
import type { DecodeResult, DecodedFrame } from '../../../server/events/index.js'

export const DID = 'did:plc:abcdefghijklmnopqrstuvwx'
export const REV = '3kabcdefghijk'
export const TIME = '2024-05-01T12:00:00.000Z'
/** The data (MST root) CID every hand-built commit names; no MST block is sent, none is read. */
export const DATA = await new BlockMap().add({ l: null, e: [] })

export const decoders = [createLeanDecoder(), createSyncDecoder()]

export type OpSpec = {
  action: 'create' | 'update' | 'delete'
  path: string
  record?: unknown
  /** Leave the record's block out of the CAR. */
  omitBlock?: boolean
  /** Put these bytes in the CAR under the record's CID instead of its encoding. */
  blockBytes?: Uint8Array
}

export async function commitBody(ops: OpSpec[], extra: Record<string, unknown> = {}) {
  const blocks = new BlockMap()
  const commitCid = await blocks.add({ did: DID, rev: REV, version: 3, data: DATA, prev: null })
  const repoOps: Array<{ action: string; path: string; cid: unknown }> = []
  for (const op of ops) {
    if (op.action === 'delete') {
      repoOps.push({ action: op.action, path: op.path, cid: null })
      continue
    }
    const cid = await new BlockMap().add(op.record as never)
    if (!op.omitBlock) blocks.set(cid, op.blockBytes ?? (await recordBytes(op.record)))
    repoOps.push({ action: op.action, path: op.path, cid })
  }
  return {
    seq: 42,
    rebase: false,
    tooBig: false,
    repo: DID,
    commit: commitCid,
    rev: REV,
    since: null,
    blocks: await blocksToCarFile(commitCid, blocks),
    ops: repoOps,
    blobs: [],
    time: TIME,
    ...extra,
  }
}

/** A #sync frame whose CAR holds just a commit block, as a PDS sends it. */
export async function syncFrame(seq: number, commit: Record<string, unknown> = { did: DID, rev: REV, version: 3, data: DATA, prev: null }) {
  const blocks = new BlockMap()
  const cid = await blocks.add(commit as never)
  return encodeMessageFrame('#sync', { seq, did: DID, time: TIME, rev: REV, blocks: await blocksToCarFile(cid, blocks) })
}

export async function commitFrame(ops: OpSpec[], extra: Record<string, unknown> = {}): Promise<Uint8Array> {
  return encodeMessageFrame('#commit', await commitBody(ops, extra))
}

async function recordBytes(record: unknown): Promise<Uint8Array> {
  const single = new BlockMap()
  const cid = await single.add(record as never)
  return single.get(cid)!
}

export function post(text: string) {
  return { $type: 'app.bsky.feed.post', text, createdAt: TIME }
}

export async function decodeFrame(decoder: { decode(bytes: Uint8Array): DecodeResult | Promise<DecodeResult> }, bytes: Uint8Array): Promise<DecodedFrame> {
  const result = await decoder.decode(bytes)
  if (result.kind !== 'frame') throw new Error(`expected a frame, got ${result.kind}`)
  return result.frame
}
