// The lean decoder is only trustworthy if it says what the reference implementation says. Every decoder is
// run over the same generated firehose and must produce the same frames.
import { beforeAll, describe, expect, it } from 'vitest'
import { createLeanDecoder } from '../../../server/pipeline/decoder/lean.js'
import { createSyncDecoder, createVerifiedDecoder } from '../../../server/pipeline/decoder/sync.js'
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
  it('covers every kind of item the workload contains', () => {
    expect(frames.length).toBeGreaterThanOrEqual(500)
    const kinds = new Set(leanResults.flatMap((r) => items(r).map((i) => (i.kind === 'reject' ? `reject:${i.category}` : i.kind))))
    expect([...kinds].sort()).toEqual(['account', 'create', 'delete', 'identity', 'reject:unsupported', 'update'])
    // The only rejects are the #sync frames every new account emits.
    const rejects = leanResults.flatMap(items).filter((i): i is Reject => i.kind === 'reject')
    expect(new Set(rejects.map((r) => r.reason))).toEqual(new Set(['sync event: repo state reset not applied']))
  })

  it('lean maps each planned write of each commit, in order', () => {
    frames.forEach((frame, i) => {
      if (frame.type !== '#commit') return
      const ops = items(leanResults[i])
      expect(ops.map((op) => op.kind === 'reject' ? op.kind : [op.kind, op.seq, (op as { uri: string }).uri])).toEqual(
        frame.writes!.map((w) => [w.action, frame.seq, `at://${frame.did}/${w.collection}/${w.rkey}`]),
      )
      frame.writes!.forEach((w, j) => {
        if (w.action !== 'delete') expect(normalize(ops[j])).toMatchObject({ cid: w.cid, record: normalize(w.record) })
      })
    })
  })

  it('sync decodes every frame exactly as lean does', async () => {
    const sync = createSyncDecoder()
    for (const [i, frame] of frames.entries()) {
      expect(normalize(await sync.decode(frame.bytes)), `seq ${frame.seq}`).toEqual(normalize(leanResults[i]))
    }
  })

  it('verified decodes every frame exactly as lean does, handles included', async () => {
    const verified = createVerifiedDecoder(workloadResolver(accountsOf(frames)))
    for (const [i, frame] of frames.entries()) {
      expect(normalize(await verified.decode(frame.bytes)), `seq ${frame.seq}`).toEqual(normalize(leanResults[i]))
    }
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
