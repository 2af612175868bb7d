import { describe, expect, it } from 'vitest'
import { post } from '../../../server/indexer/records/post.js'
import { BOB, CREATED_AT, IMAGE_CID, POST_CID, POST_URI, blob, createOp, rejectionOf, strongRef } from './fixtures.js'

const ROOT_URI = `at://${BOB}/app.bsky.feed.post/3l6ou5kq2ss2k`

function rowFor(fields: object) {
  const op = createOp('app.bsky.feed.post', { $type: 'app.bsky.feed.post', createdAt: CREATED_AT, ...fields })
  return post.toRow(op)
}

const images = { $type: 'app.bsky.embed.images', images: [{ alt: 'dawn', image: blob(IMAGE_CID) }] }

describe('post.toRow', () => {
  it('maps a plain post to its text, langs and creation time, with no reply or quote', () => {
    expect(rowFor({ text: 'first light', langs: ['en', 'pt-BR'] })).toEqual({
      text: 'first light',
      reply_root: null,
      reply_parent: null,
      embed_uri: null,
      langs: ['en', 'pt-BR'],
      created_at: CREATED_AT,
      sort_at: CREATED_AT,
      record: { $type: 'app.bsky.feed.post', text: 'first light', langs: ['en', 'pt-BR'], createdAt: CREATED_AT },
    })
  })

  it('sorts a post dated in the future at the time its frame was sequenced', () => {
    const row = rowFor({ text: 'from the future', createdAt: '2099-01-01T00:00:00.000Z' })
    expect(row.created_at).toBe('2099-01-01T00:00:00.000Z')
    expect(row.sort_at).toBe('2024-10-15T09:30:01.214Z')
  })

  it('leaves langs null when the post declares none', () => {
    expect(rowFor({ text: 'no language' }).langs).toBeNull()
  })

  it('takes reply_root and reply_parent from the reply refs', () => {
    const row = rowFor({ text: 'agreed', reply: { root: { uri: ROOT_URI, cid: POST_CID }, parent: strongRef } })
    expect([row.reply_root, row.reply_parent]).toEqual([ROOT_URI, POST_URI])
  })

  it('takes embed_uri from a quote post', () => {
    const row = rowFor({ text: 'this', embed: { $type: 'app.bsky.embed.record', record: strongRef } })
    expect(row.embed_uri).toBe(POST_URI)
  })

  it('takes embed_uri from a quote post that also carries media', () => {
    const embed = {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: strongRef },
      media: images,
    }
    expect(rowFor({ text: 'this, with a photo', embed }).embed_uri).toBe(POST_URI)
  })

  it('takes embed_uri from a quote whose $type spells out #main', () => {
    const row = rowFor({ text: 'this', embed: { $type: 'app.bsky.embed.record#main', record: strongRef } })
    expect(row.embed_uri).toBe(POST_URI)
  })

  it('leaves embed_uri null for an external link card', () => {
    const external = { uri: 'https://example.com/harbour', title: 'Harbour', description: 'Dawn photos' }
    expect(rowFor({ text: 'read this', embed: { $type: 'app.bsky.embed.external', external } }).embed_uri).toBeNull()
  })

  it('stores an images embed in the record with each blob ref as {$link}', () => {
    const row = rowFor({ text: '', embed: images })
    expect(row.embed_uri).toBeNull()
    expect((row.record as { embed: unknown }).embed).toEqual({
      $type: 'app.bsky.embed.images',
      images: [
        { alt: 'dawn', image: { $type: 'blob', ref: { $link: IMAGE_CID }, mimeType: 'image/jpeg', size: 245_112 } },
      ],
    })
  })

  it('stores facets in the record as they were written', () => {
    const facets = [
      {
        index: { byteStart: 6, byteEnd: 15 },
        features: [{ $type: 'app.bsky.richtext.facet#mention', did: BOB }],
      },
      {
        index: { byteStart: 16, byteEnd: 24 },
        features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'harbour' }],
      },
    ]
    expect((rowFor({ text: 'hello @bob.test #harbour', facets }).record as { facets: unknown }).facets).toEqual(facets)
  })

  it('rejects a post whose text contains U+0000', () => {
    expect(rejectionOf(() => rowFor({ text: 'bad\u0000byte' }))).toBe('record field text contains U+0000')
  })

  it('rejects a post whose alt text deep in an embed contains U+0000', () => {
    const embed = { $type: 'app.bsky.embed.images', images: [{ alt: 'a\u0000', image: blob(IMAGE_CID) }] }
    expect(rejectionOf(() => rowFor({ text: 'fine', embed }))).toBe(
      'record field embed/images/0/alt contains U+0000',
    )
  })
})
