import { createdAt, text } from './fields.js'
import type { RecordModule } from './types.js'

export const repost: RecordModule = {
  collection: 'app.bsky.feed.repost',
  table: 'reposts',
  columns: { subject_uri: 'text', subject_cid: 'text', created_at: 'timestamptz' },
  toRow: ({ record }) => ({
    subject_uri: text(record, 'subject/uri'),
    subject_cid: text(record, 'subject/cid'),
    created_at: createdAt(record),
  }),
}
