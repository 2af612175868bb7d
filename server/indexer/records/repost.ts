import { createdAt, sortAt, text } from './fields.js'
import type { RecordModule } from './types.js'

export const repost: RecordModule = {
  collection: 'app.bsky.feed.repost',
  table: 'reposts',
  columns: { subject_uri: 'text', subject_cid: 'text', created_at: 'timestamptz', sort_at: 'timestamptz' },
  toRow: ({ record, time }) => {
    const created = createdAt(record)
    return {
      subject_uri: text(record, 'subject/uri'),
      subject_cid: text(record, 'subject/cid'),
      created_at: created,
      sort_at: sortAt(created, time),
    }
  },
}
