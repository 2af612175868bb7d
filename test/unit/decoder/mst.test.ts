// The partial MST must find what @atproto/repo's MST holds and, undoing ops, land on the very root @atproto/repo
// had before them: that equality is what the verified decoder's prevData check rests on.
import { BlockMap, MST, MemoryBlockstore, blocksToCarFile } from '@atproto/repo'
import { encode } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { type CidLike, readCar } from '../../../server/pipeline/decoder/car.js'
import { MstError, PartialMst, type Undo, keyLayer } from '../../../server/pipeline/decoder/mst.js'

const store = new MemoryBlockstore()

const text = (cid: CidLike | null) => (cid === null ? null : CID.decode(cid.bytes).toString())

async function valueCid(n: number) {
  return new BlockMap().add({ n })
}

/** A tree of `count` keys, some of them on high layers, so splits and merges cross several layers. */
async function tree(count: number, seed: number): Promise<{ mst: MST; keys: string[] }> {
  let mst = await MST.create(store)
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    const key = `app.bsky.feed.post/3k${(seed * 100_000 + i * 7919).toString(36).padStart(9, 'a')}`
    keys.push(key)
    mst = await mst.add(key, await valueCid(i))
  }
  return { mst, keys }
}

/** The whole tree as a CAR, as a PartialMst reads it. */
async function partial(mst: MST): Promise<PartialMst> {
  const root = await mst.getPointer()
  const blocks = new BlockMap()
  for (const node of await mst.allNodes()) {
    if (!node.isTree()) continue
    const { cid, bytes } = await node.serialize()
    blocks.set(cid, bytes)
  }
  return new PartialMst(readCar(await blocksToCarFile(root, blocks), { verify: true }), root)
}

describe('partial MST', () => {
  it('finds every key the tree holds, with its value, and nothing for a key it lacks', async () => {
    const { mst, keys } = await tree(300, 1)
    const ours = await partial(mst)
    for (const key of keys) expect(text(ours.get(key))).toBe((await mst.get(key))!.toString())
    expect(ours.get('app.bsky.feed.post/3kzzzzzzzzz')).toBeNull()
  })

  it('has keys on several layers in the test trees', async () => {
    const { keys } = await tree(300, 1)
    expect(Math.max(...keys.map(keyLayer))).toBeGreaterThanOrEqual(2)
  })

  it.each([1, 2, 3, 4, 5])('undoes creates, updates and deletes back to the earlier root (seed %i)', async (seed) => {
    const { mst: before, keys } = await tree(200, seed)
    const undos: Undo[] = []
    let after = before
    for (let i = 0; i < 12; i++) {
      const created = `app.bsky.feed.like/3l${(seed * 1000 + i * 31).toString(36).padStart(9, 'b')}`
      const value = await valueCid(10_000 + i)
      after = await after.add(created, value)
      undos.push({ key: created, from: value, to: null })
      // distinct keys for every op: (seed + 16i) and (seed + 16i + 8) stay below 200 for these seeds
      const updated = keys[seed + i * 16]
      const was = (await after.get(updated))!
      const now = await valueCid(20_000 + i)
      after = await after.update(updated, now)
      undos.push({ key: updated, from: now, to: was })
      const deleted = keys[seed + i * 16 + 8]
      undos.push({ key: deleted, from: null, to: (await after.get(deleted))! })
      after = await after.delete(deleted)
    }
    const ours = await partial(after)
    for (const undo of undos.toReversed()) ours.undo(undo)
    expect(text(ours.rootCid())).toBe((await before.getPointer()).toString())
  })

  it('undoes the only key of a tree back to the empty tree', async () => {
    const empty = await MST.create(store)
    const value = await valueCid(1)
    const one = await empty.add('app.bsky.feed.post/3kaaaaaaaaa', value)
    const ours = await partial(one)
    ours.undo({ key: 'app.bsky.feed.post/3kaaaaaaaaa', from: value, to: null })
    expect(text(ours.rootCid())).toBe((await empty.getPointer()).toString())
  })

  it('refuses an undo whose key does not hold what the op wrote', async () => {
    const { mst, keys } = await tree(20, 6)
    const ours = await partial(mst)
    expect(() => ours.undo({ key: keys[3], from: null, to: keys[4] as never })).toThrow(MstError)
    expect(() => ours.undo({ key: 'app.bsky.feed.post/3kzzzzzzzzz', from: ours.get(keys[4]), to: null })).toThrow(/holds nothing/)
  })

  it('reads a node written in another form than the canonical one, as the generic codec reads it', async () => {
    const value = await valueCid(1)
    const root = await new BlockMap().add({ e: [{ k: Buffer.from('app.bsky.feed.post/3kaaaaaaaaa'), p: 0, v: value }], l: null })
    const blocks = new BlockMap()
    blocks.set(root, encode({ e: [{ k: Buffer.from('app.bsky.feed.post/3kaaaaaaaaa'), p: 0, v: value }], l: null }))
    const ours = new PartialMst(readCar(await blocksToCarFile(root, blocks), { verify: true }), root)
    expect(text(ours.get('app.bsky.feed.post/3kaaaaaaaaa'))).toBe(value.toString())
  })

  it('refuses to read a node the CAR does not carry', async () => {
    const { mst } = await tree(300, 7)
    const root = await mst.getPointer()
    const blocks = new BlockMap()
    blocks.set(root, (await mst.serialize()).bytes)
    const car = readCar(await blocksToCarFile(root, blocks), { verify: true })
    const ours = new PartialMst(car, root)
    expect(() => {
      for (let i = 0; i < 300; i++) ours.get(`app.bsky.feed.post/3k${(7 * 100_000 + i * 7919).toString(36).padStart(9, 'a')}`)
    }).toThrow(/is not in the CAR/)
  })
})
