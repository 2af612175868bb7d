// The DAG-CBOR of one MST node, read and written by hand: the generic codec builds a token list and a CID object for
// every link, which made reading and re-encoding nodes most of a verified decode but for its signature. A node has one
// canonical form, `{e: [{k, p, t, v}...], l}` with every key present (`t` and `l` null when empty), map keys in
// DAG-CBOR's order, minimal lengths, links as tag 42 over 0x00 and a CIDv1 with a 32-byte SHA-256 digest.
// readMstNode takes only exactly that form and answers null for anything else, so that a node written any other way
// the generic codec still accepts is read by it, as before: both read the same values from the same bytes.
import { hash } from 'node:crypto'
import type { CidLike } from './car.js'
import {
  CID_V1,
  CanonicalReader,
  DIGEST_LENGTH,
  MAJOR_ARRAY,
  MAJOR_BYTES,
  MAJOR_MAP,
  MAJOR_UINT,
  NULL,
  SHA2_256,
  TAG_CID,
  textKey,
} from './canonical-cbor.js'

/** A node's fields as encoded: each key is stored as `p` bytes shared with the previous key, then the rest `k`. */
export type RawMstNode = { l: CidLike | null; e: RawMstEntry[] }
export type RawMstEntry = { p: number; k: Uint8Array; v: CidLike; t: CidLike | null }

/** An entry as the tree knows it: its whole key, record CID, and the subtree to its right. */
export type MstEntryLinks = { key: string; value: CidLike; right: CidLike | null }

const DAG_CBOR = 0x71

const [E, L, K, P, T, V] = ['e', 'l', 'k', 'p', 't', 'v'].map(textKey)

/** The node's fields, or null when `block` is not a node in canonical form (then the generic codec decides). */
export function readMstNode(block: Uint8Array): RawMstNode | null {
  const r = new CanonicalReader(block)
  if (r.byte() !== ((MAJOR_MAP << 5) | 2) || !r.key(E)) return null
  const count = r.head(MAJOR_ARRAY)
  if (count === null || count > block.length) return null
  const e: RawMstEntry[] = []
  for (let i = 0; i < count; i++) {
    if (r.byte() !== ((MAJOR_MAP << 5) | 4) || !r.key(K)) return null
    const keyLength = r.head(MAJOR_BYTES)
    if (keyLength === null) return null
    const k = r.take(keyLength)
    if (k === null || !r.key(P)) return null
    const p = r.head(MAJOR_UINT)
    if (p === null || !r.key(T)) return null
    const t = r.linkOrNull()
    if (t === undefined || !r.key(V)) return null
    const v = r.linkOrNull()
    if (!v) return null
    e.push({ p, k, v, t })
  }
  if (!r.key(L)) return null
  const l = r.linkOrNull()
  if (l === undefined || !r.done) return null
  return { l, e }
}

/** The canonical DAG-CBOR of a node holding `entries` (in key order) with `left` before the first. */
export function encodeMstNode(left: CidLike | null, entries: readonly MstEntryLinks[]): Uint8Array {
  const w = new NodeWriter(16 + entries.length * 128)
  w.head(MAJOR_MAP, 2)
  w.key(E)
  w.head(MAJOR_ARRAY, entries.length)
  let previous = ''
  for (const { key, value, right } of entries) {
    const p = sharedPrefixLength(previous, key)
    previous = key
    w.head(MAJOR_MAP, 4)
    w.key(K)
    w.latin1(key, p)
    w.key(P)
    w.head(MAJOR_UINT, p)
    w.key(T)
    w.linkOrNull(right)
    w.key(V)
    w.linkOrNull(value)
  }
  w.key(L)
  w.linkOrNull(left)
  return w.bytes()
}

/** The CIDv1 (dag-cbor, sha2-256) of a node's bytes, as MST nodes are named. */
export function mstNodeCid(bytes: Uint8Array): CidLike {
  const cid = new Uint8Array(4 + DIGEST_LENGTH)
  cid.set([CID_V1, DAG_CBOR, SHA2_256, DIGEST_LENGTH])
  cid.set(hash('sha256', bytes, 'buffer'), 4)
  return { bytes: cid }
}

function sharedPrefixLength(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

class NodeWriter {
  private buf: Buffer
  private n = 0

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }

  private room(more: number): void {
    if (this.n + more <= this.buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + more))
    this.buf.copy(bigger, 0, 0, this.n)
    this.buf = bigger
  }

  head(major: number, value: number): void {
    this.room(5)
    const m = major << 5
    if (value < 24) this.buf[this.n++] = m | value
    else if (value < 0x100) {
      this.buf[this.n++] = m | 24
      this.buf[this.n++] = value
    } else if (value < 0x10000) {
      this.buf[this.n++] = m | 25
      this.n = this.buf.writeUInt16BE(value, this.n)
    } else {
      this.buf[this.n++] = m | 26
      this.n = this.buf.writeUInt32BE(value, this.n)
    }
  }

  key(encoded: Uint8Array): void {
    this.room(encoded.length)
    this.buf.set(encoded, this.n)
    this.n += encoded.length
  }

  /** `text` from `from` on as a byte string: MST keys are bytes, held as latin1 strings of those bytes. */
  latin1(text: string, from: number): void {
    this.head(MAJOR_BYTES, text.length - from)
    this.room(text.length - from)
    this.n += this.buf.write(text.slice(from), this.n, 'latin1')
  }

  linkOrNull(cid: CidLike | null): void {
    if (cid === null) {
      this.room(1)
      this.buf[this.n++] = NULL
      return
    }
    this.room(2)
    this.buf[this.n++] = TAG_CID[0]
    this.buf[this.n++] = TAG_CID[1]
    this.head(MAJOR_BYTES, cid.bytes.length + 1)
    this.room(cid.bytes.length + 1)
    this.buf[this.n++] = 0
    this.buf.set(cid.bytes, this.n)
    this.n += cid.bytes.length
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.n)
  }
}
