// The part of a repo's Merkle Search Tree that a #commit's CAR carries, read and rewritten synchronously.
// The verified decoder asks two things of it: does the signed tree hold each op's record (the proof), and do the
// ops, undone on the new tree, give back the tree named by the frame's prevData (Sync 1.1's inversion check)?
// @atproto/repo's MST answers both, but asynchronously and at several times the cost of the rest of the decode.
// Subtrees the CAR leaves out stay unread: their CIDs are all an unchanged subtree contributes to a root.
// Blocks come from a CAR whose hashes were checked, so a node read here is the node its CID names. Nodes are read
// and written by mst-node.ts; the generic codec reads only a node that is not in canonical form.
import { hash } from 'node:crypto'
import { decode } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'
import type { CarBlocks, CidLike } from './car.js'
import { type RawMstNode, encodeMstNode, mstNodeCid, readMstNode } from './mst-node.js'

/** A tree the CAR cannot answer for: a node it should carry is missing, or a node is not an MST node. */
export class MstError extends Error {
  override readonly name = 'MstError'
}

/** An op undone: `from` is what the key holds now (null: absent), `to` what it held before (null: absent). */
export type Undo = { key: string; from: CidLike | null; to: CidLike | null }

type Entry = { key: string; value: CidLike; right: Tree }
type Node = { layer: number; left: Tree; entries: Entry[]; cid: CidLike | null }
/** A subtree: read (Node), known only by its CID (not yet read, or not in the CAR), or empty. */
type Tree = Node | CidLike | null

export class PartialMst {
  private root: Tree
  private rootLayer: number
  /** Nodes as read from the CAR, by CID bytes: a rewrite copies a node before changing it, so these stay true. */
  private readonly readNodes = new Map<string, Node>()

  constructor(
    private readonly blocks: CarBlocks,
    root: CidLike,
  ) {
    const node = this.read(root, null)
    this.root = node.entries.length === 0 && node.left === null ? null : node
    this.rootLayer = node.layer
  }

  /** The record CID `key` holds, or null if the tree has no such key. */
  get(key: string): CidLike | null {
    let tree = this.root
    let layer = this.rootLayer
    while (tree !== null) {
      const node = this.expand(tree, layer)
      const i = lowerBound(node.entries, key)
      if (node.entries[i]?.key === key) return node.entries[i].value
      tree = pointer(node, i)
      layer--
    }
    return null
  }

  /** Applies one undo, refusing it when the key does not hold what the op says it wrote. */
  undo({ key, from, to }: Undo): void {
    const current = this.get(key)
    if (!sameCid(current, from)) {
      throw new MstError(`${key} holds ${describe(current)}, not the ${describe(from)} the op wrote`)
    }
    if (from !== null && to !== null) this.root = this.replace(this.root, this.rootLayer, key, to)
    else if (from !== null) this.remove(key)
    else if (to !== null) this.insert(key, to)
  }

  /** The root CID of the tree as it stands. */
  rootCid(): CidLike {
    return this.root === null ? mstNodeCid(encodeMstNode(null, [])) : this.cidOfTree(this.root)!
  }

  private remove(key: string): void {
    this.root = this.removeFrom(this.root, this.rootLayer, key)
    // a root left without entries is replaced by its only subtree, as often as needed
    while (this.root !== null) {
      const node = this.expand(this.root, this.rootLayer)
      if (node.entries.length > 0) break
      this.root = node.left
      this.rootLayer--
    }
  }

  private insert(key: string, value: CidLike): void {
    const layer = keyLayer(key)
    if (this.root === null) this.rootLayer = layer
    while (this.rootLayer < layer) {
      this.root = { layer: this.rootLayer + 1, left: this.root, entries: [], cid: null }
      this.rootLayer++
    }
    this.root = this.insertInto(this.root, this.rootLayer, key, layer, value)
  }

  private replace(tree: Tree, layer: number, key: string, value: CidLike): Tree {
    const node = { ...this.expand(tree!, layer), cid: null }
    const i = lowerBound(node.entries, key)
    if (node.entries[i]?.key === key) {
      node.entries = node.entries.with(i, { ...node.entries[i], value })
    } else {
      setPointer(node, i, this.replace(pointer(node, i), layer - 1, key, value))
    }
    return node
  }

  private removeFrom(tree: Tree, layer: number, key: string): Tree {
    const node = { ...this.expand(tree!, layer), cid: null }
    const i = lowerBound(node.entries, key)
    if (node.entries[i]?.key === key) {
      const merged = this.merge(pointer(node, i), node.entries[i].right, layer - 1)
      node.entries = node.entries.toSpliced(i, 1)
      setPointer(node, i, merged)
    } else {
      setPointer(node, i, this.removeFrom(pointer(node, i), layer - 1, key))
    }
    return prune(node)
  }

  private insertInto(tree: Tree, layer: number, key: string, keyLayer: number, value: CidLike): Node {
    if (tree === null) {
      if (layer === keyLayer) return { layer, left: null, entries: [{ key, value, right: null }], cid: null }
      return { layer, left: this.insertInto(null, layer - 1, key, keyLayer, value), entries: [], cid: null }
    }
    const node = { ...this.expand(tree, layer), cid: null }
    const i = lowerBound(node.entries, key)
    if (layer === keyLayer) {
      const [left, right] = this.split(pointer(node, i), layer - 1, key)
      setPointer(node, i, left)
      node.entries = node.entries.toSpliced(i, 0, { key, value, right })
    } else {
      setPointer(node, i, this.insertInto(pointer(node, i), layer - 1, key, keyLayer, value))
    }
    return node
  }

  /** The keys of `tree` below and above `key` (which it does not hold), as two trees of the same layer. */
  private split(tree: Tree, layer: number, key: string): [Tree, Tree] {
    if (tree === null) return [null, null]
    const node = this.expand(tree, layer)
    const i = lowerBound(node.entries, key)
    const [below, above] = this.split(pointer(node, i), layer - 1, key)
    const left: Node = { layer, left: node.left, entries: node.entries.slice(0, i), cid: null }
    setPointer(left, i, below)
    const right: Node = { layer, left: above, entries: node.entries.slice(i), cid: null }
    return [prune(left), prune(right)]
  }

  /** Two adjacent trees of one layer, every key of `a` below every key of `b`, as one. */
  private merge(a: Tree, b: Tree, layer: number): Tree {
    if (a === null) return b
    if (b === null) return a
    const first = this.expand(a, layer)
    const second = this.expand(b, layer)
    const seam = this.merge(pointer(first, first.entries.length), second.left, layer - 1)
    const node: Node = { layer, left: first.left, entries: [...first.entries, ...second.entries], cid: null }
    setPointer(node, first.entries.length, seam)
    return node
  }

  private expand(tree: Node | CidLike, layer: number): Node {
    return 'entries' in tree ? tree : this.read(tree, layer)
  }

  /** Reads the node `cid` names; `layer` is what its place in the tree says its layer must be (null: the root). */
  private read(cid: CidLike, layer: number | null): Node {
    const cacheKey = Buffer.from(cid.bytes.buffer, cid.bytes.byteOffset, cid.bytes.byteLength).toString('latin1')
    const known = this.readNodes.get(cacheKey)
    if (known) return known
    const block = this.blocks.get(cid)
    if (!block) throw new MstError(`MST node ${CID.decode(cid.bytes)} is not in the CAR`)
    const node = parseNode(readMstNode(block) ?? genericNode(block, cid), cid)
    const own = node.entries.length > 0 ? keyLayer(node.entries[0].key) : (layer ?? 0)
    if (layer !== null && own !== layer) throw new MstError(`MST node ${CID.decode(cid.bytes)} is at layer ${own}, its place is at ${layer}`)
    const read = { ...node, layer: own }
    this.readNodes.set(cacheKey, read)
    return read
  }

  private cidOfTree(tree: Tree): CidLike | null {
    if (tree === null) return null
    if (!('entries' in tree)) return tree
    if (tree.cid) return tree.cid
    const entries = tree.entries.map((entry) => ({ key: entry.key, value: entry.value, right: this.cidOfTree(entry.right) }))
    tree.cid = mstNodeCid(encodeMstNode(this.cidOfTree(tree.left), entries))
    return tree.cid
  }
}

/** An MST key's layer: the number of leading zero bit pairs of its SHA-256 (the tree's fanout is 4). */
export function keyLayer(key: string): number {
  const digest = hash('sha256', Buffer.from(key, 'latin1'), 'buffer')
  let zeros = 0
  for (const byte of digest) {
    if (byte === 0) {
      zeros += 8
      continue
    }
    zeros += Math.clz32(byte) - 24
    break
  }
  return zeros >> 1
}

/** A node written in some other form than the canonical one, read by the generic codec: its links become CidLikes. */
function genericNode(block: Uint8Array, cid: CidLike): RawMstNode {
  const fail = (what: string) => new MstError(`MST node ${CID.decode(cid.bytes)} ${what}`)
  let data: unknown
  try {
    data = decode(block)
  } catch (err) {
    throw fail(`is not DAG-CBOR: ${(err as Error).message}`)
  }
  const { l, e } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>
  if (!Array.isArray(e)) throw fail('has no entry list')
  const entries = e.map((raw: unknown) => {
    const { p, k, v, t } = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
    const value = CID.asCID(v)
    const right = linkOrNull(t)
    if (!Number.isSafeInteger(p) || !(k instanceof Uint8Array) || right === undefined || !value) throw fail('has a malformed entry')
    return { p: p as number, k, v: value, t: right }
  })
  const left = linkOrNull(l)
  if (left === undefined) throw fail('has a malformed left link')
  return { l: left, e: entries }
}

/** A link or null (absent counts as null); undefined when the value is neither. */
function linkOrNull(value: unknown): CidLike | null | undefined {
  if (value === null || value === undefined) return null
  return CID.asCID(value) ?? undefined
}

/** The node's entries with whole keys, checked: each shares no more than the previous key has, in ascending order. */
function parseNode({ l, e }: RawMstNode, cid: CidLike): Omit<Node, 'layer'> {
  let previous = ''
  const entries = e.map(({ p, k, v, t }): Entry => {
    if (p > previous.length) throw new MstError(`MST node ${CID.decode(cid.bytes)} has a malformed entry`)
    const key = previous.slice(0, p) + Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1')
    if (key <= previous && previous !== '') throw new MstError(`MST node ${CID.decode(cid.bytes)} has keys out of order`)
    previous = key
    return { key, value: v, right: t }
  })
  return { left: l, entries, cid }
}

/** The subtree before entry `i` (i = entries.length: after the last). */
function pointer(node: Node, i: number): Tree {
  return i === 0 ? node.left : node.entries[i - 1].right
}

function setPointer(node: Node, i: number, tree: Tree): void {
  if (i === 0) node.left = tree
  else node.entries = node.entries.with(i - 1, { ...node.entries[i - 1], right: tree })
}

function prune(node: Node): Tree {
  return node.entries.length === 0 && node.left === null ? null : node
}

function lowerBound(entries: Entry[], key: string): number {
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (entries[mid].key < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function sameCid(a: CidLike | null, b: CidLike | null): boolean {
  if (a === null || b === null) return a === b
  return Buffer.from(a.bytes).equals(b.bytes)
}

function describe(cid: CidLike | null): string {
  return cid === null ? 'nothing' : CID.decode(cid.bytes).toString()
}
