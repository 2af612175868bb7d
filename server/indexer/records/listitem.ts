import { createdAt, text } from './fields.js'
import type { RecordModule } from './types.js'

export const listitem: RecordModule = {
  collection: 'app.bsky.graph.listitem',
  table: 'list_items',
  columns: { list_uri: 'text', subject_did: 'text', created_at: 'timestamptz' },
  toRow: ({ record }) => ({
    list_uri: text(record, 'list'),
    subject_did: text(record, 'subject'),
    created_at: createdAt(record),
  }),
}
