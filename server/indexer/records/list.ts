import { toLexJson } from '../lex-json.js'
import { createdAt, optionalText, text } from './fields.js'
import type { RecordModule } from './types.js'

export const list: RecordModule = {
  collection: 'app.bsky.graph.list',
  table: 'lists',
  columns: { name: 'text', purpose: 'text', description: 'text', created_at: 'timestamptz', record: 'jsonb' },
  toRow: ({ record }) => ({
    name: text(record, 'name'),
    purpose: text(record, 'purpose'),
    description: optionalText(record, 'description'),
    created_at: createdAt(record),
    record: toLexJson(record),
  }),
}
