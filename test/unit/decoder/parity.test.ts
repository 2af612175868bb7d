// The lean decoder is only trustworthy if it says what the reference implementation says. Every decoder is
// run over the same generated firehose and must produce the same frames.
import { beforeAll, describe, expect, it } from 'vitest'
import { createLeanDecoder } from '../../../server/pipeline/decoder/lean.js'
import { createSyncDecoder } from '../../../server/pipeline/decoder/sync.js'
import { createVerifiedDecoder } from '../../../server/pipeline/decoder/verified.js'
import type { DecodeResult, PipelineItem, Reject } from '../../../server/events/index.js'
import type { GeneratedFrame } from '../../../bench/source/generator.js'
import { accountsOf, frameParts, normalize, withoutBlock, workload, workloadResolver } from './workload.js'

let frames: GeneratedFrame[]
let leanResults: DecodeResult[]

beforeAll(async () => {
  frames = await workload()
  const lean = createLeanDecoder()
  leanResults = frames.map((f) => lean.decode(f.bytes) as DecodeResult)
})

function items(result: DecodeResult): PipelineItem[] {
  if (result.kind !== 'frame') throw new Error(`expected a frame, got ${result.kind}`)
  return result.frame.items
}

describe('decoder parity on the generated workload', () => {
  it('covers every kind of item the workload contains, and nothing in it is rejected', () => {
    expect(frames.length).toBeGreaterThanOrEqual(500)
    const kinds = new Set(leanResults.flatMap((r) => items(r).map((i) => (i.kind === 'reject' ? `reject:${i.category}` : i.kind))))
    expect([...kinds].sort()).toEqual(['account', 'commit', 'create', 'delete', 'identity', 'sync', 'update'])
  })

  it('lean maps each planned write of each commit, in order, then the commit position', () => {
    frames.forEach((frame, i) => {
      if (frame.type !== '#commit') return
      const decoded = items(leanResults[i])
      const ops = decoded.slice(0, -1)
      expect(ops.map((op) => op.kind === 'reject' ? op.kind : [op.kind, op.seq, (op as { uri: string }).uri])).toEqual(
        frame.writes!.map((w) => [w.action, frame.seq, `at://${frame.did}/${w.collection}/${w.rkey}`]),
      )
      frame.writes!.forEach((w, j) => {
        if (w.action !== 'delete') expect(normalize(ops[j])).toMatchObject({ cid: w.cid, record: normalize(w.record) })
      })
      expect(decoded.at(-1)).toMatchObject({ kind: 'commit', seq: frame.seq, did: frame.did })
    })
  })

  it("every commit's since and prevData name the rev and data of its repo's commit before it", () => {
    const last = new Map<string, { rev: string; data: string }>()
    let chained = 0
    for (const result of leanResults) {
      for (const item of items(result)) {
        if (item.kind !== 'commit' && item.kind !== 'sync') continue
        const before = last.get(item.did)
        if (item.kind === 'commit') {
          expect(item.since).toBe(before?.rev ?? null)
          if (before) expect(item.prevData).toBe(before.data)
          if (before) chained++
        } else {
          // the generator's #sync repeats the account's first commit
          expect(item).toMatchObject({ rev: before?.rev, data: before?.data })
        }
        last.set(item.did, { rev: item.rev, data: item.data })
      }
    }
    expect(chained).toBeGreaterThan(100)
  })

  it('sync decodes every frame exactly as lean does', async () => {
    const sync = createSyncDecoder()
    for (const [i, frame] of frames.entries()) {
      expect(normalize(await sync.decode(frame.bytes)), `seq ${frame.seq}`).toEqual(normalize(leanResults[i]))
    }
  })

  it('verified decodes every frame exactly as lean does, but takes no handle from an #identity frame', async () => {
    const verified = createVerifiedDecoder(workloadResolver(accountsOf(frames)))
    let identities = 0
    for (const [i, frame] of frames.entries()) {
      const lean = leanResults[i]
      const expected =
        frame.type === '#identity' && lean.kind === 'frame'
          ? { ...lean, frame: { ...lean.frame, items: lean.frame.items.map((item) => (item.kind === 'identity' ? { ...item, handle: null } : item)) } }
          : lean
      if (expected !== lean) identities++
      expect(normalize(await verified.decode(frame.bytes)), `seq ${frame.seq}`).toEqual(normalize(expected))
    }
    expect(identities).toBeGreaterThan(0)
  })

  it('every decoder rejects just the op whose block is missing from a generated commit', async () => {
    const index = frames.findIndex((f) => f.type === '#commit' && f.writes!.filter((w) => w.action !== 'delete').length >= 2)
    expect(index).toBeGreaterThanOrEqual(0)
    const { body } = frameParts(frames[index].bytes)
    const ops = body.ops as { action: string; cid: unknown }[]
    const victim = ops.findIndex((op) => op.action !== 'delete')
    const broken = await withoutBlock(frames[index].bytes, ops[victim].cid)
    const expected = items(leanResults[index]).map((item, j) =>
      j === victim ? { kind: 'reject', category: 'car', reason: 'record block missing from CAR', uri: (item as { uri: string }).uri } : normalize(item),
    )
    const decoders = [createLeanDecoder(), createSyncDecoder(), createVerifiedDecoder(workloadResolver(accountsOf(frames)))]
    for (const decoder of decoders) {
      expect(normalize(items(await decoder.decode(broken))), decoder.name).toMatchObject(expected)
    }
  })
})
