import { encode } from '@atproto/lex-cbor'
import { BlockMap } from '@atproto/repo'
import { describe, expect, it } from 'vitest'
import { encodeErrorFrame, encodeMessageFrame } from '../../../bench/source/frames.js'
import type { Reject } from '../../../server/events/index.js'
import { DATA, DID, REV, TIME, commitBody, commitFrame, decodeFrame, decoders, post, syncFrame } from './fixtures.js'

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]))
}

function onlyReject(items: unknown[]): Reject {
  expect(items).toHaveLength(1)
  const [item] = items as Reject[]
  expect(item.kind).toBe('reject')
  return item
}

describe.each(decoders)('$name decoder', (decoder) => {
  describe('control frames', () => {
    it('turns an error frame into a control frame', async () => {
      expect(await decoder.decode(encodeErrorFrame('FutureCursor', 'Cursor in the future.'))).toEqual({
        kind: 'error',
        name: 'FutureCursor',
        message: 'Cursor in the future.',
      })
      expect(await decoder.decode(encodeErrorFrame('ConsumerTooSlow'))).toEqual({
        kind: 'error',
        name: 'ConsumerTooSlow',
        message: null,
      })
    })

    it('turns #info into a control frame', async () => {
      const frame = encodeMessageFrame('#info', { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit.' })
      expect(await decoder.decode(frame)).toEqual({
        kind: 'info',
        name: 'OutdatedCursor',
        message: 'Requested cursor exceeded limit.',
      })
    })

    it('rejects an error frame without an error name', async () => {
      const frame = await decodeFrame(decoder, concat(encode({ op: -1 }), encode({ message: 'x' })))
      expect(onlyReject(frame.items)).toMatchObject({ category: 'frame', seq: null })
    })
  })

  describe('undecodable frames', () => {
    it('rejects a frame cut short, with its seq when the body was readable', async () => {
      const whole = encodeMessageFrame('#identity', { seq: 7, did: DID, time: TIME, handle: 'alice.test' })
      const inBody = await decodeFrame(decoder, whole.subarray(0, whole.length - 4))
      expect(inBody.seq).toBeNull()
      expect(onlyReject(inBody.items)).toMatchObject({ category: 'frame', seq: null })
      const header = encode({ op: 1, t: '#identity' })
      const noBody = await decodeFrame(decoder, header)
      expect(onlyReject(noBody.items)).toMatchObject({ category: 'frame', reason: 'frame has a header but no body' })
    })

    it('rejects trailing data after the body but keeps the seq', async () => {
      const frame = concat(encodeMessageFrame('#identity', { seq: 7, did: DID, time: TIME }), encode({ extra: 1 }))
      const decoded = await decodeFrame(decoder, frame)
      expect(decoded.seq).toBe(7)
      expect(onlyReject(decoded.items)).toMatchObject({ category: 'frame', seq: 7, did: DID })
    })

    it('rejects a header op that is neither message nor error', async () => {
      const frame = concat(encode({ op: 2, t: '#commit' }), encode({ seq: 9 }))
      const decoded = await decodeFrame(decoder, frame)
      expect(onlyReject(decoded.items)).toMatchObject({ category: 'frame', seq: 9 })
    })

    it('rejects random bytes', async () => {
      const decoded = await decodeFrame(decoder, Uint8Array.from([0xff, 0x00, 0x13, 0x37]))
      expect(decoded).toMatchObject({ seq: null, time: null })
      expect(onlyReject(decoded.items).category).toBe('frame')
    })
  })

  describe('body shape', () => {
    it('rejects a wrong-typed field as a frame reject that keeps the readable seq', async () => {
      const decoded = await decodeFrame(decoder, encodeMessageFrame('#account', { seq: 11, did: DID, time: TIME, active: 'yes' }))
      expect(decoded).toMatchObject({ seq: 11, time: TIME })
      expect(onlyReject(decoded.items)).toMatchObject({
        category: 'frame',
        seq: 11,
        did: DID,
        reason: '#account body active is not a boolean',
      })
    })

    it('rejects a commit whose ops are not ops, keeping seq and repo', async () => {
      const body = await commitBody([{ action: 'create', path: 'app.bsky.feed.post/3k2a', record: post('hi') }])
      for (const ops of ['nope', [{ action: 'move', path: 'a/b', cid: null }], [{ action: 'create', path: 7, cid: null }]]) {
        const decoded = await decodeFrame(decoder, encodeMessageFrame('#commit', { ...body, ops }))
        expect(onlyReject(decoded.items)).toMatchObject({ category: 'frame', seq: 42, did: DID })
      }
    })

    it('drops the seq when the seq itself is unusable', async () => {
      for (const seq of ['42', -1, 0, 2n ** 60n, null]) {
        const decoded = await decodeFrame(decoder, encodeMessageFrame('#identity', { seq, did: DID, time: TIME }))
        expect(decoded.seq).toBeNull()
        expect(onlyReject(decoded.items).category).toBe('frame')
      }
    })

    it('rejects a commit whose rev, repo, time, blocks or commit are not what they claim', async () => {
      const body = await commitBody([])
      for (const bad of [{ rev: 'not-a-tid' }, { repo: 'alice' }, { time: 'yesterday' }, { blocks: 'car' }, { commit: 'bafy' }]) {
        const decoded = await decodeFrame(decoder, encodeMessageFrame('#commit', { ...body, ...bad }))
        expect(onlyReject(decoded.items)).toMatchObject({ category: 'frame', seq: 42 })
      }
    })
  })

  describe('message types', () => {
    it('passes unknown message types with a seq as empty frames', async () => {
      expect(await decodeFrame(decoder, encodeMessageFrame('#labels', { seq: 5, time: TIME }))).toEqual({
        seq: 5,
        time: TIME,
        items: [],
      })
      const noSeq = await decodeFrame(decoder, encodeMessageFrame('#labels', { x: 1 }))
      expect(onlyReject(noSeq.items)).toMatchObject({ category: 'unsupported', seq: null })
    })

    it("maps #sync to the repo's announced position, read from its commit block", async () => {
      const decoded = await decodeFrame(decoder, await syncFrame(8))
      expect(decoded).toEqual({
        seq: 8,
        time: TIME,
        items: [{ kind: 'sync', seq: 8, time: TIME, did: DID, rev: REV, data: DATA.toString() }],
      })
    })

    it("rejects a #sync whose CAR or commit block cannot be read as 'car', keeping its seq", async () => {
      const body = { seq: 8, did: DID, time: TIME, rev: REV, blocks: new Uint8Array([1]) }
      const unreadable = await decodeFrame(decoder, encodeMessageFrame('#sync', body))
      expect(onlyReject(unreadable.items)).toMatchObject({ category: 'car', seq: 8, did: DID })
      const otherRev = await decodeFrame(decoder, await syncFrame(8, { did: DID, rev: '3kzzzzzzzzzzz', version: 3, data: DATA }))
      expect(onlyReject(otherRev.items)).toMatchObject({
        category: 'car',
        reason: "commit block names another repo or rev than the frame's: the repo's position cannot be followed",
      })
    })

    it('maps #identity, with or without a handle', async () => {
      const withHandle = await decodeFrame(decoder, encodeMessageFrame('#identity', { seq: 3, did: DID, time: TIME, handle: 'alice.test' }))
      expect(withHandle.items).toEqual([{ kind: 'identity', seq: 3, time: TIME, did: DID, handle: 'alice.test' }])
      const without = await decodeFrame(decoder, encodeMessageFrame('#identity', { seq: 3, did: DID, time: TIME }))
      expect(without.items).toEqual([{ kind: 'identity', seq: 3, time: TIME, did: DID, handle: null }])
    })

    it('maps #account statuses', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ active: true }, 'active'],
        [{ active: false, status: 'takendown' }, 'takendown'],
        [{ active: false, status: 'deleted' }, 'deleted'],
        [{ active: false }, 'deactivated'],
      ]
      for (const [fields, status] of cases) {
        const decoded = await decodeFrame(decoder, encodeMessageFrame('#account', { seq: 4, did: DID, time: TIME, ...fields }))
        expect(decoded.items).toEqual([{ kind: 'account', seq: 4, time: TIME, did: DID, status }])
      }
      const throttled = await decodeFrame(decoder, encodeMessageFrame('#account', { seq: 4, did: DID, time: TIME, active: false, status: 'throttled' }))
      expect(onlyReject(throttled.items)).toMatchObject({ category: 'unsupported', seq: 4, did: DID })
    })
  })

  describe('commits', () => {
    const path = (rkey: string) => `app.bsky.feed.post/${rkey}`

    it('maps creates, updates and deletes in op order', async () => {
      const decoded = await decodeFrame(
        decoder,
        await commitFrame([
          { action: 'create', path: path('3k2a'), record: post('one') },
          { action: 'update', path: path('3k2b'), record: post('two') },
          { action: 'delete', path: path('3k2c') },
        ]),
      )
      expect(decoded.seq).toBe(42)
      expect(decoded.items.map((i) => [i.kind, 'uri' in i ? i.uri : null])).toEqual([
        ['create', `at://${DID}/${path('3k2a')}`],
        ['update', `at://${DID}/${path('3k2b')}`],
        ['delete', `at://${DID}/${path('3k2c')}`],
        ['commit', null],
      ])
      expect(decoded.items[0]).toMatchObject({ seq: 42, time: TIME, did: DID, rev: REV, rkey: '3k2a', record: post('one') })
    })

    it("ends with the commit's position: since and prevData from the frame, data from the commit block", async () => {
      const prevData = await new BlockMap().add({ previous: true })
      const decoded = await decodeFrame(decoder, await commitFrame([], { since: '3kaaaaaaaaaaa', prevData }))
      expect(decoded.items).toEqual([
        { kind: 'commit', seq: 42, time: TIME, did: DID, rev: REV, since: '3kaaaaaaaaaaa', prevData: prevData.toString(), data: DATA.toString() },
      ])
    })

    it("rejects a commit whose commit block is missing as 'car' in place of its position, keeping its ops", async () => {
      const body = await commitBody([{ action: 'delete', path: path('3k2a') }])
      const decoded = await decodeFrame(decoder, encodeMessageFrame('#commit', { ...body, commit: DATA }))
      expect(decoded.items.map((i) => i.kind)).toEqual(['delete', 'reject'])
      expect(decoded.items[1]).toMatchObject({ category: 'car', reason: "commit block missing from CAR: the repo's position cannot be followed" })
    })

    it('rejects only the op whose block is missing from the CAR', async () => {
      const decoded = await decodeFrame(
        decoder,
        await commitFrame([
          { action: 'create', path: path('3k2a'), record: post('one') },
          { action: 'create', path: path('3k2b'), record: post('two'), omitBlock: true },
          { action: 'delete', path: path('3k2c') },
        ]),
      )
      expect(decoded.items.map((i) => i.kind)).toEqual(['create', 'reject', 'delete', 'commit'])
      expect(decoded.items[0]).toMatchObject({ record: post('one') })
      expect(decoded.items[1]).toMatchObject({
        category: 'car',
        reason: 'record block missing from CAR',
        uri: `at://${DID}/${path('3k2b')}`,
        collection: 'app.bsky.feed.post',
        seq: 42,
      })
    })

    it('rejects only the op whose path is malformed, and a create without a cid', async () => {
      const body = await commitBody([
        { action: 'create', path: path('3k2a'), record: post('one') },
        { action: 'create', path: 'not-a-path', record: post('two') },
        { action: 'create', path: path('3k2c'), record: post('three') },
      ])
      body.ops[2] = { ...body.ops[2], cid: null }
      const decoded = await decodeFrame(decoder, encodeMessageFrame('#commit', body))
      expect(decoded.items.map((i) => i.kind)).toEqual(['create', 'reject', 'reject', 'commit'])
      expect(decoded.items[1]).toMatchObject({ category: 'record', uri: null, reason: 'op path is not a valid collection/rkey' })
      expect(decoded.items[2]).toMatchObject({ category: 'record', uri: `at://${DID}/${path('3k2c')}`, reason: 'create op has no cid' })
    })

    it('rejects every op of a commit whose CAR is broken', async () => {
      const body = await commitBody([
        { action: 'create', path: path('3k2a'), record: post('one') },
        { action: 'delete', path: path('3k2b') },
      ])
      const decoded = await decodeFrame(decoder, encodeMessageFrame('#commit', { ...body, blocks: body.blocks.subarray(0, body.blocks.length - 5) }))
      expect(decoded.seq).toBe(42)
      expect(decoded.items).toHaveLength(2)
      for (const item of decoded.items) expect(item).toMatchObject({ kind: 'reject', category: 'car', seq: 42 })
      expect((decoded.items[0] as Reject).reason).toMatch(/^commit CAR unreadable: /)
    })

    it('rejects an op whose block is not a record, keeping the others', async () => {
      const decoded = await decodeFrame(
        decoder,
        await commitFrame([
          { action: 'create', path: path('3k2a'), record: post('one') },
          { action: 'create', path: path('3k2b'), record: ['not', 'a', 'map'] },
        ]),
      )
      expect(decoded.items.map((i) => i.kind)).toEqual(['create', 'reject', 'commit'])
      expect(decoded.items[1]).toMatchObject({ category: 'record', uri: `at://${DID}/${path('3k2b')}` })
    })

    it('counts every op of a tooBig commit as unsupported, and an op-less one once', async () => {
      const decoded = await decodeFrame(
        decoder,
        await commitFrame([{ action: 'create', path: path('3k2a'), record: post('one'), omitBlock: true }], { tooBig: true }),
      )
      expect(onlyReject(decoded.items)).toMatchObject({ category: 'unsupported', uri: `at://${DID}/${path('3k2a')}` })
      const empty = await decodeFrame(decoder, await commitFrame([], { tooBig: true }))
      expect(onlyReject(empty.items)).toMatchObject({ category: 'unsupported', uri: null, seq: 42 })
    })

    it('passes an empty commit as a frame with just its position', async () => {
      expect(await decodeFrame(decoder, await commitFrame([]))).toEqual({
        seq: 42,
        time: TIME,
        items: [{ kind: 'commit', seq: 42, time: TIME, did: DID, rev: REV, since: null, prevData: null, data: DATA.toString() }],
      })
    })
  })
})

describe('where the decoders differ', () => {
  it('only the hash-checking decoder notices a record block that does not match its CID', async () => {
    const [lean, sync] = decoders
    const frame = await commitFrame([
      { action: 'create', path: 'app.bsky.feed.post/3k2a', record: post('one'), blockBytes: encode(post('forged')) },
    ])
    expect((await decodeFrame(lean, frame)).items[0]).toMatchObject({ kind: 'create', record: post('forged') })
    expect((await decodeFrame(sync, frame)).items[0]).toMatchObject({ kind: 'reject', category: 'car' })
  })
})
