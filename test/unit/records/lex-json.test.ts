import { BlobRef } from '@atproto/lexicon'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { toLexJson } from '../../../server/indexer/lex-json.js'
import { BOB, CREATED_AT, IMAGE_CID, POST_CID, blob, fromFirehose, rejectionOf, strongRef } from './fixtures.js'

describe('toLexJson', () => {
  it('encodes a CID as {$link}', () => {
    expect(toLexJson(fromFirehose({ subject: strongRef, link: CID.parse(POST_CID) }))).toEqual({
      subject: strongRef,
      link: { $link: POST_CID },
    })
  })

  it('encodes bytes as {$bytes} in base64 without padding', () => {
    expect(toLexJson(fromFirehose({ sig: new Uint8Array([0xfb, 0xff, 0x00, 0x01]) }))).toEqual({
      sig: { $bytes: '+/8AAQ' },
    })
  })

  it('encodes a blob decoded from CBOR with its ref as {$link}', () => {
    expect(toLexJson(fromFirehose({ image: blob(IMAGE_CID, 'image/png', 5120) }))).toEqual({
      image: { $type: 'blob', ref: { $link: IMAGE_CID }, mimeType: 'image/png', size: 5120 },
    })
  })

  it('encodes a BlobRef instance the same way as a plain blob', () => {
    const image = new BlobRef(CID.parse(IMAGE_CID), 'image/png', 5120)
    expect(toLexJson({ image })).toEqual({
      image: { $type: 'blob', ref: { $link: IMAGE_CID }, mimeType: 'image/png', size: 5120 },
    })
  })

  it('keeps a legacy blob in its original {cid, mimeType} form', () => {
    const avatar = { cid: IMAGE_CID, mimeType: 'image/jpeg' }
    expect(toLexJson(fromFirehose({ avatar }))).toEqual({ avatar })
  })

  it('produces a value that survives JSON.stringify and parse unchanged', () => {
    const json = toLexJson(
      fromFirehose({
        $type: 'app.bsky.feed.post',
        text: 'héllo 🌊',
        facets: [{ index: { byteStart: 0, byteEnd: 6 }, features: [{ did: BOB }] }],
        image: blob(IMAGE_CID),
        createdAt: CREATED_AT,
      }),
    )
    expect(JSON.parse(JSON.stringify(json))).toEqual(json)
  })

  it('rejects U+0000 in a nested string, naming the path', () => {
    const record = fromFirehose({ facets: [{ features: [{ uri: 'https://example.com/\u0000' }] }] })
    expect(rejectionOf(() => toLexJson(record))).toBe('record field facets/0/features/0/uri contains U+0000')
  })

  it('rejects U+0000 in a key, escaping it in the reason', () => {
    const record = fromFirehose({ extra: { 'a\u0000b': 1 } })
    expect(rejectionOf(() => toLexJson(record))).toBe('record field extra/a\\u0000b contains U+0000')
  })

  it('rejects an integer too large for JSON numbers, which CBOR decodes as a BigInt', () => {
    const record = fromFirehose({ count: 2n ** 63n })
    expect(typeof record.count).toBe('bigint')
    expect(rejectionOf(() => toLexJson(record))).toBe('record has no JSON form: Invalid Lex value: bigint')
  })
})
