import type { RecordValue } from '../../events/index.js'
import { toLexJson } from '../lex-json.js'
import { createdAt, optionalText, sortAt, text } from './fields.js'
import type { RecordModule } from './types.js'

export const post: RecordModule = {
  collection: 'app.bsky.feed.post',
  table: 'posts',
  columns: {
    text: 'text',
    reply_root: 'text',
    reply_parent: 'text',
    embed_uri: 'text',
    langs: 'jsonb',
    created_at: 'timestamptz',
    sort_at: 'timestamptz',
    record: 'jsonb',
  },
  toRow({ record, time }) {
    const json = toLexJson(record) as Record<string, unknown>
    const created = createdAt(record)
    return {
      text: text(record, 'text'),
      reply_root: optionalText(record, 'reply/root/uri'),
      reply_parent: optionalText(record, 'reply/parent/uri'),
      embed_uri: quotedUri(record),
      langs: Array.isArray(json.langs) ? json.langs : null,
      created_at: created,
      sort_at: sortAt(created, time),
      record: json,
    }
  },
}

/** The AT-URI of the record a post quotes, alone or alongside media. */
function quotedUri(record: RecordValue): string | null {
  // '#main' is the same definition spelled out; lexicon validation accepts both spellings.
  switch (optionalText(record, 'embed/$type')?.replace(/#main$/, '')) {
    case 'app.bsky.embed.record':
      return text(record, 'embed/record/uri')
    case 'app.bsky.embed.recordWithMedia':
      return text(record, 'embed/record/record/uri')
    default:
      return null
  }
}
