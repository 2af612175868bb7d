// Builds #commit frames by hand, for records and CARs the generator would never write. A commit's CAR holds the
// record blocks and an (unsigned) commit block, as a PDS's would; the lean decoder reads ops' blocks by CID and
// checks no signature or MST proof, so these replay like real commits. A repo's commits chain (since, prevData) in
// the order they are built, as a PDS's do in the order it sequences them. Also: renumbering a list of frames after
// splicing some in, since a frame's seq lives in its body.
import { TID } from '@atproto/common'
import { decodeAll } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-cbor'
import { BlockMap, blocksToCarFile } from '@atproto/repo'
import { encodeMessageFrame } from '../../../bench/source/frames.js'
import type { StoredFrame } from '../../../bench/source/store.js'

export type Write =
  | { action: 'create' | 'update'; collection: string; rkey: string; record: Record<string, unknown> }
  | { action: 'delete'; collection: string; rkey: string }

export type CommitSpec = {
  seq: number
  did: string
  writes: Write[]
  time?: string
  rev?: string
  /** Replaces the CAR with these bytes (a broken CAR); the ops still name the record CIDs. */
  blocks?: Uint8Array
}

const lastRev = new Map<string, string>()

export async function commitFrame(spec: CommitSpec): Promise<Uint8Array> {
  const blocks = new BlockMap()
  const ops = []
  for (const w of spec.writes) {
    const path = `${w.collection}/${w.rkey}`
    if (w.action === 'delete') {
      ops.push({ action: 'delete', path, cid: null })
      continue
    }
    ops.push({ action: w.action, path, cid: await blocks.add(w.record as LexValue) })
  }
  const rev = spec.rev ?? TID.nextStr()
  const since = lastRev.get(spec.did) ?? null
  lastRev.set(spec.did, rev)
  // no MST is built: every commit names the same (empty) tree, so each one's prevData is that tree too
  const data = await blocks.add({ l: null, e: [] })
  const commit = await blocks.add({ did: spec.did, version: 3, rev, prev: null, data, sig: new Uint8Array(64) })
  return encodeMessageFrame('#commit', {
    seq: spec.seq,
    rebase: false,
    tooBig: false,
    repo: spec.did,
    commit,
    rev,
    since,
    ...(since ? { prevData: data } : {}),
    blocks: spec.blocks ?? (await blocksToCarFile(commit, blocks)),
    ops,
    blobs: [],
    time: spec.time ?? new Date().toISOString(),
  })
}

export function identityFrame(seq: number, did: string, handle: string, time = new Date().toISOString()): Uint8Array {
  return encodeMessageFrame('#identity', { seq, did, time, handle })
}

export function accountFrame(seq: number, did: string, time = new Date().toISOString()): Uint8Array {
  return encodeMessageFrame('#account', { seq, did, time, active: true })
}

/** The same frames with seqs 1..n in list order (each body re-encoded with its new seq). */
export function renumber(frames: readonly Uint8Array[]): StoredFrame[] {
  return frames.map((bytes, i) => {
    const [header, body] = [...decodeAll(bytes)] as [{ t: string }, Record<string, unknown>]
    return { seq: i + 1, bytes: encodeMessageFrame(header.t, { ...body, seq: i + 1 }) }
  })
}

export function seqOf(bytes: Uint8Array): number {
  const [, body] = [...decodeAll(bytes)] as [unknown, { seq: number }]
  return body.seq
}
