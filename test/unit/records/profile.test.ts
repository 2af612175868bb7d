import { BlobRef } from '@atproto/lexicon'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { profile } from '../../../server/indexer/records/profile.js'
import { AVATAR_CID, BANNER_CID, CREATED_AT, SAMPLES, blob, createOp, rejectionOf } from './fixtures.js'

const PROFILE = 'app.bsky.actor.profile'

function rowFor(record: object, rkey = 'self') {
  return profile.toRow(createOp(PROFILE, record, rkey))
}

describe('profile.toRow', () => {
  it('maps display name, description, avatar and banner CIDs and creation time', () => {
    const { record: _, ...columns } = rowFor(SAMPLES[PROFILE])
    expect(columns).toEqual({
      display_name: 'Alice 🌅',
      description: 'Photographs, mostly of harbours.',
      avatar_cid: AVATAR_CID,
      banner_cid: BANNER_CID,
      created_at: CREATED_AT,
    })
  })

  it('stores the avatar in the record as a blob with its ref as {$link}', () => {
    expect((rowFor(SAMPLES[PROFILE]).record as { avatar: unknown }).avatar).toEqual({
      $type: 'blob',
      ref: { $link: AVATAR_CID },
      mimeType: 'image/jpeg',
      size: 245_112,
    })
  })

  it('maps an empty profile to nulls, created_at included', () => {
    expect(rowFor({ $type: PROFILE })).toEqual({
      display_name: null,
      description: null,
      avatar_cid: null,
      banner_cid: null,
      created_at: null,
      record: { $type: PROFILE },
    })
  })

  it('reads the CID of a legacy {cid, mimeType} avatar', () => {
    expect(rowFor({ $type: PROFILE, avatar: { cid: AVATAR_CID, mimeType: 'image/png' } }).avatar_cid).toBe(AVATAR_CID)
  })

  it('reads the CID of an avatar handed over as a BlobRef instance', () => {
    const op = createOp(PROFILE, { $type: PROFILE }, 'self')
    op.record.avatar = new BlobRef(CID.parse(AVATAR_CID), 'image/png', 2048)
    expect(profile.toRow(op).avatar_cid).toBe(AVATAR_CID)
  })

  it('rejects a profile record at any rkey other than self', () => {
    expect(rejectionOf(() => rowFor(SAMPLES[PROFILE], '3l6ow2hmlpa2c'))).toBe('profile rkey must be self')
  })

  it('rejects a display name containing U+0000', () => {
    expect(rejectionOf(() => rowFor({ $type: PROFILE, displayName: 'Al\u0000ice' }))).toBe(
      'record field displayName contains U+0000',
    )
  })

  it('rejects an avatar that is not a blob reference', () => {
    expect(rejectionOf(() => rowFor({ $type: PROFILE, avatar: { ...blob(AVATAR_CID), ref: 'nope' } }))).toBe(
      'record field avatar is not a blob reference',
    )
  })
})
