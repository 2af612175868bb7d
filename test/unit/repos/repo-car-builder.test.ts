import { MST, MemoryBlockstore } from '@atproto/repo'
import { describe, expect, it } from 'vitest'
import { buildMst, cborBlock, keyLayer } from '../../support/repo-car-builder.js'

async function referenceRoot(leaves: { key: string; cid: ReturnType<typeof cborBlock>['cid'] }[]): Promise<string> {
  let mst = await MST.create(new MemoryBlockstore())
  for (const leaf of leaves) mst = await mst.add(leaf.key, leaf.cid)
  return (await mst.getPointer()).toString()
}

function leaves(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const key = `app.bsky.feed.${i % 2 ? 'like' : 'post'}/3l${String(i * 7919).padStart(11, 'a')}`
    return { key, cid: cborBlock({ i }).cid }
  }).sort((a, b) => (a.key < b.key ? -1 : 1))
}

describe('the test repo builder', () => {
  it('computes MST layers as the spec does (leading zero bits of sha2-256, in pairs)', () => {
    // Examples from the atproto repository spec.
    expect(keyLayer('2653ae71')).toBe(0)
    expect(keyLayer('blue')).toBe(1)
    expect(keyLayer('app.bsky.feed.post/454397e440ec')).toBe(4)
    expect(keyLayer('app.bsky.feed.post/9adeb165882c')).toBe(8)
  })

  it('builds the same MST as @atproto/repo, empty, small and multi-layer', async () => {
    for (const n of [0, 1, 5, 300]) {
      const input = leaves(n)
      const ours = buildMst(input, () => {}).toString()
      expect(ours).toBe(await referenceRoot(input))
    }
  })
})
