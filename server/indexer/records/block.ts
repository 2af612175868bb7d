import { createdAt, text } from './fields.js'
import type { RecordModule } from './types.js'

export const block: RecordModule = {
  collection: 'app.bsky.graph.block',
  table: 'blocks',
  columns: { subject_did: 'text', created_at: 'timestamptz' },
  toRow: ({ record }) => ({
    subject_did: text(record, 'subject'),
    created_at: createdAt(record),
  }),
}
