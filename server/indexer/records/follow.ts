import { createdAt, text } from './fields.js'
import type { RecordModule } from './types.js'

export const follow: RecordModule = {
  collection: 'app.bsky.graph.follow',
  table: 'follows',
  columns: { subject_did: 'text', created_at: 'timestamptz' },
  toRow: ({ record }) => ({
    subject_did: text(record, 'subject'),
    created_at: createdAt(record),
  }),
}
