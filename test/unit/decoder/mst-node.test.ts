// Our MST node codec must read and write exactly what the generic DAG-CBOR codec does: the same fields from the
// same bytes, the same bytes and so the same CID for the same node, on the nodes the synthetic workload's commits
// carry and on trees built by @atproto/repo; and it must leave to the generic codec any node in another form.
import * as dagCbor from '@ipld/dag-cbor'
import { BlockMap, MST, MemoryBlockstore, blocksToCarFile } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeMstNode, mstNodeCid, readMstNode } from '../../../server/pipeline/decoder/mst-node.js'
import { type ReferenceNode, mstNodesOf, referenceCid } from '../../support/mst-node-blocks.js'
import { frameParts, workload } from './workload.js'

const text = (cid: { bytes: Uint8Array } | null) => (cid === null ? null : CID.decode(cid.bytes).toString())

let workloadNodes: ReferenceNode[]
let treeNodes: ReferenceNode[]

beforeAll(async () => {
  workloadNodes = []
  for (const frame of await workload()) {
    const { type, body } = frameParts(frame.bytes)
    if (type === '#commit' && body.blocks instanceof Uint8Array) workloadNodes.push(...(await mstNodesOf(body.blocks)))
  }
  const store = new MemoryBlockstore()
  let mst = await MST.create(store)
  for (let i = 0; i < 400; i++) {
    // keys of several lengths and collections, so prefixes and key lengths above 23 bytes all occur
    const key = `${['app.bsky.feed.post', 'app.bsky.graph.follow', 'a.b'][i % 3]}/3k${(i * 7919).toString(36).padStart(9 + (i % 20), 'a')}`
    mst = await mst.add(key, await new BlockMap().add({ i }))
  }
  const blocks = new BlockMap()
  for (const node of await mst.allNodes()) {
    if (!node.isTree()) continue
    const { cid, bytes } = await node.serialize()
    blocks.set(cid, bytes)
  }
  treeNodes = await mstNodesOf(await blocksToCarFile(await mst.getPointer(), blocks))
})

describe.each([
  { source: 'the synthetic workload', nodes: () => workloadNodes },
  { source: 'an @atproto/repo tree', nodes: () => treeNodes },
])('MST nodes from $source', ({ nodes }) => {
  it('are there to test, with entries and links on both sides', () => {
    expect(nodes().length).toBeGreaterThan(20)
    expect(nodes().some((n) => n.left !== null)).toBe(true)
    expect(nodes().some((n) => n.entries.some((e) => e.right !== null))).toBe(true)
  })

  it('read to the fields @ipld/dag-cbor reads', () => {
    for (const node of nodes()) {
      const ours = readMstNode(node.bytes)!
      const theirs = dagCbor.decode(node.bytes) as { l: CID | null; e: { p: number; k: Uint8Array; v: CID; t: CID | null }[] }
      expect(text(ours.l)).toBe(text(theirs.l))
      expect(ours.e.map((e) => ({ p: e.p, k: Buffer.from(e.k).toString('hex'), v: text(e.v), t: text(e.t) }))).toEqual(
        theirs.e.map((e) => ({ p: e.p, k: Buffer.from(e.k).toString('hex'), v: text(e.v), t: text(e.t) })),
      )
    }
  })

  it('encode to the very bytes they were read from, and so to their CID', () => {
    for (const node of nodes()) {
      const bytes = encodeMstNode(node.left, node.entries)
      expect(Buffer.from(bytes).equals(node.bytes)).toBe(true)
      expect(text(mstNodeCid(bytes))).toBe(node.cid.toString())
    }
  })
})

describe('MST node encoding', () => {
  it('writes the empty node as @ipld/dag-cbor does', async () => {
    const bytes = encodeMstNode(null, [])
    expect(Buffer.from(bytes).equals(dagCbor.encode({ e: [], l: null }))).toBe(true)
    expect(text(mstNodeCid(bytes))).toBe((await referenceCid({ e: [], l: null })).toString())
  })

  it('writes a changed node as @ipld/dag-cbor writes the same fields', async () => {
    const node = treeNodes.find((n) => n.entries.length > 2)!
    const entries = node.entries.toSpliced(1, 1)
    let previous = ''
    const e = entries.map(({ key, value, right }) => {
      let p = 0
      while (p < previous.length && p < key.length && previous[p] === key[p]) p++
      previous = key
      return { k: Buffer.from(key.slice(p), 'latin1'), p, t: right, v: value }
    })
    const bytes = encodeMstNode(node.left, entries)
    expect(Buffer.from(bytes).equals(dagCbor.encode({ e, l: node.left }))).toBe(true)
    expect(text(mstNodeCid(bytes))).toBe((await referenceCid({ e, l: node.left })).toString())
  })
})

describe('MST nodes in another form than the canonical one', () => {
  const link = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
  const entry = { k: new Uint8Array([0x61]), p: 0, t: null, v: link }

  it('are read by the canonical path only when canonical', () => {
    expect(readMstNode(dagCbor.encode({ e: [entry], l: null }))).not.toBeNull()
  })

  it.each([
    ['an entry without its `t`', dagCbor.encode({ e: [{ k: entry.k, p: 0, v: link }], l: null })],
    ['a node without its `l`', dagCbor.encode({ e: [entry] })],
    ['a node with a field more', dagCbor.encode({ e: [entry], l: null, x: 1 })],
    ['a CIDv1 with another hash', dagCbor.encode({ e: [{ ...entry, v: CID.createV1(0x71, { code: 0x13, size: 4, bytes: new Uint8Array([0x13, 4, 1, 2, 3, 4]), digest: new Uint8Array([1, 2, 3, 4]) } as never) }], l: null })],
    ['trailing bytes', Uint8Array.from([...dagCbor.encode({ e: [entry], l: null }), 0])],
    ['a non-minimal prefix length', Uint8Array.from(Buffer.from(Buffer.from(dagCbor.encode({ e: [entry], l: null })).toString('hex').replace('617000', '61701800'), 'hex'))],
  ])('leaves %s to the generic codec', (_, bytes) => {
    expect(readMstNode(bytes)).toBeNull()
  })
})
