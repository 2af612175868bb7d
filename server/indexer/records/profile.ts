import { toLexJson } from '../lex-json.js'
import { blobCid, optionalCreatedAt, optionalText } from './fields.js'
import { RecordRejection, type RecordModule } from './types.js'

export const profile: RecordModule = {
  collection: 'app.bsky.actor.profile',
  table: 'profiles',
  columns: {
    display_name: 'text',
    description: 'text',
    avatar_cid: 'text',
    banner_cid: 'text',
    created_at: 'timestamptz',
    record: 'jsonb',
  },
  toRow({ rkey, record }) {
    // The lexicon declares the key as literal:self; a record elsewhere in the collection is not the profile.
    if (rkey !== 'self') throw new RecordRejection('profile rkey must be self')
    return {
      display_name: optionalText(record, 'displayName'),
      description: optionalText(record, 'description'),
      avatar_cid: blobCid(record, 'avatar'),
      banner_cid: blobCid(record, 'banner'),
      created_at: optionalCreatedAt(record),
      record: toLexJson(record),
    }
  },
}
