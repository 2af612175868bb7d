import { BlobRef } from '@atproto/lexicon'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { validateRecord } from '../../../server/indexer/validate.js'
import { BOB, CREATED_AT, IMAGE_CID, POST_CID, SAMPLES, blob, fromFirehose, strongRef } from './fixtures.js'

const POST = 'app.bsky.feed.post'

function post(fields: object) {
  return fromFirehose({ $type: POST, text: 'hello', createdAt: CREATED_AT, ...fields })
}

function nested(depth: number): object {
  let value: object = { leaf: true }
  for (let i = 1; i < depth; i++) value = { inner: value }
  return value
}

describe('validateRecord accepts', () => {
  it.each(Object.entries(SAMPLES))('a realistic %s record decoded from CBOR', (collection, record) => {
    expect(validateRecord(collection, fromFirehose(record))).toEqual({ ok: true })
  })

  it('a post whose image blobs arrive from CBOR as plain objects rather than BlobRef instances', () => {
    const record = post({
      embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'dawn', image: blob(IMAGE_CID) }] },
    })
    const image = (record.embed as { images: { image: object }[] }).images[0].image
    expect(image).not.toBeInstanceOf(BlobRef)
    expect(validateRecord(POST, record)).toEqual({ ok: true })
  })

  it('a post whose blob is already a BlobRef instance', () => {
    const record = post({ embed: { $type: 'app.bsky.embed.images', images: [] } })
    const image = new BlobRef(CID.parse(IMAGE_CID), 'image/jpeg', 1000)
    ;(record.embed as { images: object[] }).images.push({ alt: '', image })
    expect(validateRecord(POST, record)).toEqual({ ok: true })
  })

  it('a post with blobs, leaving the record as decoded (only the validator sees BlobRef instances)', () => {
    const fields = {
      embed: {
        $type: 'app.bsky.embed.recordWithMedia',
        record: { $type: 'app.bsky.embed.record', record: strongRef },
        media: { $type: 'app.bsky.embed.images', images: [{ alt: 'a', image: blob(IMAGE_CID) }, { alt: 'b', image: blob(IMAGE_CID) }] },
      },
    }
    const record = post(fields)
    const images = (record.embed as { media: { images: { image: object }[] } }).media.images
    const before = images.map((i) => i.image)
    expect(validateRecord(POST, record)).toEqual({ ok: true })
    expect(record).toEqual(post(fields))
    expect(images.map((i) => i.image)).toEqual(before)
    for (const i of images) expect(i.image).not.toBeInstanceOf(BlobRef)
  })

  it('a reply quoting a post with media, with facets and langs', () => {
    const record = post({
      text: 'look at this @bob.test',
      reply: { root: strongRef, parent: strongRef },
      facets: [
        {
          index: { byteStart: 13, byteEnd: 22 },
          features: [{ $type: 'app.bsky.richtext.facet#mention', did: BOB }],
        },
      ],
      embed: {
        $type: 'app.bsky.embed.recordWithMedia',
        record: { $type: 'app.bsky.embed.record', record: strongRef },
        media: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: blob(IMAGE_CID) }] },
      },
      langs: ['en', 'de'],
    })
    expect(validateRecord(POST, record)).toEqual({ ok: true })
  })
})

describe('validateRecord rejects', () => {
  it('a record whose $type is another collection', () => {
    expect(validateRecord(POST, fromFirehose(SAMPLES['app.bsky.feed.like']))).toEqual({
      ok: false,
      reason: 'invalid record: $type "app.bsky.feed.like" does not match collection "app.bsky.feed.post"',
    })
  })

  it('a record without $type', () => {
    expect(validateRecord(POST, { text: 'hello', createdAt: CREATED_AT })).toEqual({
      ok: false,
      reason: 'invalid record: $type is missing',
    })
  })

  it('a post without createdAt', () => {
    expect(validateRecord(POST, fromFirehose({ $type: POST, text: 'hello' }))).toEqual({
      ok: false,
      reason: 'invalid record: Record must have the property "createdAt"',
    })
  })

  it('a post whose createdAt is not a datetime', () => {
    expect(validateRecord(POST, post({ createdAt: 'yesterday' }))).toEqual({
      ok: false,
      reason: 'invalid record: Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)',
    })
  })

  it('a follow whose subject is a handle instead of a DID', () => {
    const record = fromFirehose({ ...SAMPLES['app.bsky.graph.follow'], subject: 'bob.bsky.social' })
    expect(validateRecord('app.bsky.graph.follow', record)).toEqual({
      ok: false,
      reason: 'invalid record: Record/subject must be a valid did',
    })
  })

  it('a like whose subject uri is an https URL instead of an AT-URI', () => {
    const subject = { uri: 'https://bsky.app/profile/bob.test/post/3l6oveex3ii2l', cid: POST_CID }
    const record = fromFirehose({ ...SAMPLES['app.bsky.feed.like'], subject })
    expect(validateRecord('app.bsky.feed.like', record)).toEqual({
      ok: false,
      reason: 'invalid record: Record/subject/uri must be a valid at-uri',
    })
  })

  it('a post over 300 graphemes', () => {
    expect(validateRecord(POST, post({ text: 'ab '.repeat(101) }))).toEqual({
      ok: false,
      reason: 'invalid record: Record/text must not be longer than 300 graphemes',
    })
  })

  it('a post of 100k characters, on its byte length', () => {
    expect(validateRecord(POST, post({ text: 'x'.repeat(100_000) }))).toEqual({
      ok: false,
      reason: 'invalid record: Record/text must not be longer than 3000 characters',
    })
  })

  it('an image embed whose blob has a string where the CID belongs', () => {
    const image = { $type: 'blob', ref: IMAGE_CID, mimeType: 'image/jpeg', size: 10 }
    const record = post({ embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image }] } })
    expect(validateRecord(POST, record)).toEqual({
      ok: false,
      reason: 'invalid record: Record/embed/images/0/image should be a blob ref',
    })
  })

  it('a record nested deeper than 64 levels in a field the lexicon does not know', () => {
    expect(validateRecord(POST, post({ extra: nested(80) }))).toEqual({
      ok: false,
      reason: 'invalid record: nested deeper than 64 levels',
    })
  })

  it('a record nested 100k levels deep, without overflowing the stack', () => {
    const record = { $type: POST, text: 'hello', createdAt: CREATED_AT, extra: nested(100_000) }
    expect(validateRecord(POST, record)).toEqual({ ok: false, reason: 'invalid record: nested deeper than 64 levels' })
  })

  it('a record that contains itself', () => {
    const record: Record<string, unknown> = { $type: POST, text: 'hello', createdAt: CREATED_AT }
    record.self = record
    expect(validateRecord(POST, record)).toEqual({ ok: false, reason: 'invalid record: nested deeper than 64 levels' })
  })

  it.each([
    [null, 'null'],
    [[{ $type: POST }], 'an array'],
    ['app.bsky.feed.post', 'string'],
    [42, 'number'],
    [undefined, 'undefined'],
  ])('the non-object %j', (input, got) => {
    expect(validateRecord(POST, input)).toEqual({ ok: false, reason: `invalid record: must be an object, got ${got}` })
  })

  it('a collection that has no record lexicon', () => {
    const record = { $type: 'com.example.recipe', title: 'bread', createdAt: CREATED_AT }
    expect(validateRecord('com.example.recipe', record)).toEqual({
      ok: false,
      reason: 'no record lexicon for collection "com.example.recipe"',
    })
  })

  it('a collection that names a lexicon object rather than a record', () => {
    const record = { $type: 'app.bsky.embed.images', images: [] }
    expect(validateRecord('app.bsky.embed.images', record)).toEqual({
      ok: false,
      reason: 'no record lexicon for collection "app.bsky.embed.images"',
    })
  })

  it('a legacy blob whose cid string is not a CID, with a reason instead of an exception', () => {
    const avatar = { cid: 'not-a-cid', mimeType: 'image/png' }
    const record = fromFirehose({ ...SAMPLES['app.bsky.actor.profile'], avatar })
    const result = validateRecord('app.bsky.actor.profile', record)
    expect(result.ok).toBe(false)
    expect(result.ok === false && result.reason).toMatch(/^record could not be validated: /)
  })
})

it('quotes a mismatched $type in bounded form so a hostile value cannot bloat the reason', () => {
  const result = validateRecord(POST, { $type: `x\u0000${'y'.repeat(10_000)}`, text: '', createdAt: CREATED_AT })
  expect(result).toEqual({
    ok: false,
    reason: `invalid record: $type "x\\u0000${'y'.repeat(62)}…" does not match collection "${POST}"`,
  })
})
