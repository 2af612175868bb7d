// Builds signed repository CARs for tests, fast enough for hundreds of thousands of records: the MST is built
// bottom-up from sorted keys in one pass (adding keys one by one through @atproto/repo's MST takes minutes at
// that size), following the MST rules (a key's layer is its sha2-256's leading zero bits / 2, every layer
// between root and leaves present); a unit test checks the root against @atproto/repo's own MST.
// Blocks come out through `onBlock` as they are made, so a big CAR is streamed to a file, not held.
import { createHash } from 'node:crypto'
import { encode } from '@atproto/lex-cbor'
import type { Keypair } from '@atproto/crypto'
import { signCommit } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { keyLayer } from '../../server/pipeline/decoder/mst.js'

export { keyLayer }

export type Block = { cid: CID; bytes: Uint8Array }
export type MstLeaf = { key: string; cid: CID }

const DAG_CBOR = 0x71
const SHA2_256 = 0x12

export function cborBlock(value: unknown): Block {
  return rawBlock(encode(value as Parameters<typeof encode>[0]))
}

/** Any bytes under a dag-cbor CID that is their true hash: for blocks that must pass the hash check yet not decode. */
export function rawBlock(bytes: Uint8Array): Block {
  const digest = createHash('sha256').update(bytes).digest()
  return { cid: CID.createV1(DAG_CBOR, createDigest(SHA2_256, digest)), bytes }
}

/** The MST over `leaves` (sorted by key, unique); every node goes to `onBlock`; returns the root CID. */
export function buildMst(leaves: MstLeaf[], onBlock: (block: Block) => void): CID {
  const layers = leaves.map((leaf) => keyLayer(leaf.key))
  const top = layers.reduce((max, layer) => Math.max(max, layer), 0)
  return buildNode(leaves, layers, 0, leaves.length, top, onBlock)
}

function buildNode(leaves: MstLeaf[], layers: number[], from: number, to: number, layer: number, onBlock: (block: Block) => void): CID {
  const subtree = (start: number, end: number): CID | null =>
    start < end ? buildNode(leaves, layers, start, end, layer - 1, onBlock) : null
  const entries: { p: number; k: Uint8Array; v: CID; t: CID | null }[] = []
  let left: CID | null = null
  let gapStart = from
  let lastKey = ''
  for (let i = from; i < to; i++) {
    if (layers[i] !== layer) continue
    const tree = subtree(gapStart, i)
    if (entries.length === 0) left = tree
    else entries[entries.length - 1].t = tree
    const key = leaves[i].key
    const p = commonPrefix(lastKey, key)
    entries.push({ p, k: Buffer.from(key.slice(p), 'latin1'), v: leaves[i].cid, t: null })
    lastKey = key
    gapStart = i + 1
  }
  const rest = subtree(gapStart, to)
  if (entries.length === 0) left = rest
  else entries[entries.length - 1].t = rest
  const block = cborBlock({ l: left, e: entries })
  onBlock(block)
  return block.cid
}

function commonPrefix(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

export async function commitBlock(fields: { did: string; data: CID; rev: string }, keypair: Keypair): Promise<Block> {
  const signed = await signCommit({ did: fields.did, version: 3, data: fields.data, rev: fields.rev, prev: null }, keypair)
  return cborBlock(signed)
}

/** CAR v1 bytes of a header naming `root`, then each block. */
export function carHeader(root: CID): Uint8Array {
  return lengthPrefixed([encode({ version: 1, roots: [root] })])
}

export function carSection(block: Block): Uint8Array {
  return lengthPrefixed([block.cid.bytes, block.bytes])
}

export function carBytes(root: CID, blocks: Iterable<Block>): Uint8Array {
  return Buffer.concat([carHeader(root), ...[...blocks].map(carSection)])
}

function lengthPrefixed(parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, part) => n + part.length, 0)
  const prefix: number[] = []
  let left = length
  while (left >= 0x80) {
    prefix.push((left & 0x7f) | 0x80)
    left = Math.floor(left / 0x80)
  }
  prefix.push(left)
  return Buffer.concat([Uint8Array.from(prefix), ...parts])
}

export type RepoRecord = { key: string; record: unknown }

export type BuiltRepo = {
  bytes: Uint8Array
  root: CID
  data: CID
  rev: string
  /** key → record block */
  records: Map<string, Block>
  /** MST nodes, root first */
  nodes: Block[]
  commit: Block
}

/** A small repository CAR in memory: commit, MST nodes, then records. */
export async function buildRepoCar(opts: { did: string; keypair: Keypair; rev: string; records: RepoRecord[] }): Promise<BuiltRepo> {
  const records = new Map<string, Block>()
  for (const { key, record } of [...opts.records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    records.set(key, cborBlock(record))
  }
  const nodes: Block[] = []
  const data = buildMst([...records].map(([key, block]) => ({ key, cid: block.cid })), (node) => nodes.push(node))
  nodes.reverse()
  const commit = await commitBlock({ did: opts.did, data, rev: opts.rev }, opts.keypair)
  return { bytes: carBytes(commit.cid, [commit, ...nodes, ...records.values()]), root: commit.cid, data, rev: opts.rev, records, nodes, commit }
}
