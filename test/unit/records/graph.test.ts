import { describe, expect, it } from 'vitest'
import { block } from '../../../server/indexer/records/block.js'
import { follow } from '../../../server/indexer/records/follow.js'
import { like } from '../../../server/indexer/records/like.js'
import { list } from '../../../server/indexer/records/list.js'
import { listitem } from '../../../server/indexer/records/listitem.js'
import { repost } from '../../../server/indexer/records/repost.js'
import { BOB, CREATED_AT, LIST_URI, POST_CID, POST_URI, SAMPLES, createOp, rejectionOf, sampleOp } from './fixtures.js'

describe('like and repost', () => {
  it('map a like to the liked post and its CID', () => {
    expect(like.toRow(sampleOp('app.bsky.feed.like'))).toEqual({
      subject_uri: POST_URI,
      subject_cid: POST_CID,
      created_at: CREATED_AT,
    })
  })

  it('map a repost to the reposted post and its CID, ignoring the via ref', () => {
    const via = { uri: `at://${BOB}/app.bsky.feed.repost/3l6oxxxbbbb2c`, cid: POST_CID }
    const op = createOp('app.bsky.feed.repost', { ...SAMPLES['app.bsky.feed.repost'], via })
    expect(repost.toRow(op)).toEqual({ subject_uri: POST_URI, subject_cid: POST_CID, created_at: CREATED_AT, sort_at: CREATED_AT })
  })

  it('reject a like without a subject, naming the field', () => {
    const op = createOp('app.bsky.feed.like', { $type: 'app.bsky.feed.like', createdAt: CREATED_AT })
    expect(rejectionOf(() => like.toRow(op))).toBe('record field subject/uri is missing')
  })
})

describe('follow and block', () => {
  it('map a follow to the followed DID', () => {
    expect(follow.toRow(sampleOp('app.bsky.graph.follow'))).toEqual({ subject_did: BOB, created_at: CREATED_AT })
  })

  it('map a block to the blocked DID', () => {
    expect(block.toRow(sampleOp('app.bsky.graph.block'))).toEqual({ subject_did: BOB, created_at: CREATED_AT })
  })
})

describe('list and listitem', () => {
  it('map a list to its name, purpose, description and record', () => {
    expect(list.toRow(sampleOp('app.bsky.graph.list'))).toEqual({
      name: 'Harbour photographers',
      purpose: 'app.bsky.graph.defs#curatelist',
      description: 'People who shoot the harbour at dawn',
      created_at: CREATED_AT,
      record: SAMPLES['app.bsky.graph.list'],
    })
  })

  it('map a list without a description to a null description', () => {
    const { description: _, ...record } = SAMPLES['app.bsky.graph.list']
    expect(list.toRow(createOp('app.bsky.graph.list', record)).description).toBeNull()
  })

  it('map a list item to its list and member DID', () => {
    expect(listitem.toRow(sampleOp('app.bsky.graph.listitem'))).toEqual({
      list_uri: LIST_URI,
      subject_did: BOB,
      created_at: CREATED_AT,
    })
  })
})
