// The repository's MST read in key order, one node in memory per level: a depth-first walk over the block
// store with an explicit stack, synchronous (the caller decides when to give the event loop a turn), so a
// 200,000-record repository costs a dozen decoded nodes, not a tree.
// The walk trusts no structure it is given: keys must strictly increase across the whole walk (which also
// catches a node reused or looping back on itself) and the depth is capped, so a hostile MST fails as
// 'malformed' instead of looping or growing. Node format: { l: CID|null, e: [{ p, k, v, t }] }, each key
// being the first `p` bytes of the node's previous key followed by `k`.
import { decode } from '@atproto/lex-cbor'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import type { BlockStore } from './block-store.js'
import { RepoCarError } from './repo-car-error.js'

export type MstEntry = { key: string; cid: CID }

export type MstWalkOptions = {
  /** A `since` diff: a node that is not in the CAR was not written in the window, and is skipped. */
  partial: boolean
  signal?: AbortSignal
}

/**
 * A CIDv1's string form, as CID#toString() gives it but without its cache: that cache is a WeakMap entry per
 * CID, and a few hundred thousand of those make every young-generation GC of a walk several times slower.
 */
export function cidString(cid: CID): string {
  return base32.encode(cid.bytes)
}

type NodeEntry = { p: number; k: Uint8Array; v: CID; t: CID | null }
type Frame = { left: CID | null; entries: unknown[]; next: number; lastKey: string }

// A valid MST is as deep as its highest key layer (a key's layer costs 4^layer hashes to find): real repos
// are under 10 deep; 64 is out of reach of honest data and bounds the stack of a hostile one.
const MAX_DEPTH = 64

export function* mstEntries(store: BlockStore, root: CID, opts: MstWalkOptions): Generator<MstEntry, void, undefined> {
  const stack: Frame[] = []
  let previous = ''
  const enter = (cid: CID): void => {
    if (stack.length >= MAX_DEPTH) throw new RepoCarError('malformed', `MST is deeper than ${MAX_DEPTH} levels at node ${cid}`)
    const frame = loadNode(store, cid, opts.partial)
    if (frame) stack.push(frame)
  }
  enter(root)
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]
    if (frame.left) {
      const left = frame.left
      frame.left = null
      enter(left)
      continue
    }
    if (frame.next >= frame.entries.length) {
      stack.pop()
      continue
    }
    const entry = checkEntry(frame.entries[frame.next++], frame.lastKey)
    const suffix = Buffer.from(entry.k.buffer, entry.k.byteOffset, entry.k.byteLength).toString('latin1')
    const key = frame.lastKey.slice(0, entry.p) + suffix
    if (key <= previous) {
      throw new RepoCarError('malformed', `MST keys out of order: ${JSON.stringify(key)} after ${JSON.stringify(previous)}`)
    }
    frame.lastKey = key
    previous = key
    opts.signal?.throwIfAborted()
    yield { key, cid: entry.v }
    if (entry.t) enter(entry.t)
  }
}

function loadNode(store: BlockStore, cid: CID, partial: boolean): Frame | null {
  const block = store.get(cid.bytes)
  if (!block) {
    if (partial) return null
    throw new RepoCarError('missing-block', `MST node ${cid} is not in the CAR`)
  }
  if (block.kind === 'oversize') {
    throw new RepoCarError('malformed', `MST node ${cid} is ${block.length} bytes, over the block cap`)
  }
  let node: unknown
  try {
    node = decode(block.bytes)
  } catch (err) {
    throw new RepoCarError('malformed', `MST node ${cid} is not DAG-CBOR: ${(err as Error).message}`)
  }
  const { l, e } = (typeof node === 'object' && node !== null ? node : {}) as Record<string, unknown>
  const left = l === null || l === undefined ? null : CID.asCID(l)
  if ((left === null && l !== null && l !== undefined) || !Array.isArray(e)) {
    throw new RepoCarError('malformed', `block ${cid} is not an MST node ({ l: CID | null, e: [...] })`)
  }
  return { left, entries: e, next: 0, lastKey: '' }
}

function checkEntry(value: unknown, lastKey: string): NodeEntry {
  const { p, k, v, t } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  const cid = CID.asCID(v)
  const tree = t === null || t === undefined ? null : CID.asCID(t)
  const valid =
    Number.isInteger(p) &&
    (p as number) >= 0 &&
    (p as number) <= lastKey.length &&
    k instanceof Uint8Array &&
    cid !== null &&
    (tree !== null || t === null || t === undefined)
  if (!valid) throw new RepoCarError('malformed', `MST entry after key ${JSON.stringify(lastKey)} is not { p, k, v, t }`)
  return { p: p as number, k: k as Uint8Array, v: cid!, t: tree }
}
