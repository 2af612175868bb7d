// Record values for the app.bsky collections the workload writes. Each builder returns a plain object that
// is valid against its lexicon, so consumers that validate records accept everything the source emits.
import type { LexValue } from '@atproto/lex-cbor'
import type { Rng } from './prng.js'

export type StrongRef = { uri: string; cid: string }
export type RecordValue = { $type: string; createdAt: string; [key: string]: LexValue }

const WORDS = [
  'the', 'a', 'today', 'new', 'firehose', 'backfill', 'coffee', 'morning', 'thread', 'cat', 'photo', 'garden',
  'shipping', 'release', 'weekend', 'reading', 'music', 'train', 'rain', 'sunny', 'think', 'love', 'this', 'really',
  'great', 'idea', 'team', 'build', 'small', 'quiet', 'bird', 'sky', 'network', 'post', 'about', 'again', 'later',
]
// Non-ASCII text makes facet byte offsets differ from string indices, which consumers must get right.
const INTL = [
  { lang: 'ja', words: ['今日は', 'いい', '天気', 'ですね', 'コーヒー', '猫'] },
  { lang: 'pt', words: ['bom', 'dia', 'café', 'amanhã', 'você', 'ótimo'] },
  { lang: 'de', words: ['guten', 'Morgen', 'schön', 'Grüße', 'Straße', 'über'] },
]
const EMOJI = ['🦋', '☕', '🌧️', '🎉', '👀']
const BIOS = ['posting about things', 'engineer, gardener', 'here for the birds', 'opinions are my cat’s']

function words(rng: Rng, vocab: readonly string[], min: number, max: number): string {
  const n = min + rng.int(max - min + 1)
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(rng.pick(vocab))
  return out.join(' ')
}

type Facet = { index: { byteStart: number; byteEnd: number }; features: { [key: string]: string }[] }

/** Appends `segment` to `text` and returns its UTF-8 byte range, which is what facets index. */
function appendSegment(parts: string[], segment: string): { byteStart: number; byteEnd: number } {
  const joined = parts.join('')
  const prefix = joined.length > 0 ? ' ' : ''
  const byteStart = Buffer.byteLength(joined + prefix)
  parts.push(prefix + segment)
  return { byteStart, byteEnd: byteStart + Buffer.byteLength(segment) }
}

export type PostShape = {
  createdAt: string
  reply?: { root: StrongRef; parent: StrongRef }
  quote?: StrongRef
  mention?: { did: string; handle: string }
  link?: boolean
  tag?: boolean
  external?: boolean
}

export function post(rng: Rng, shape: PostShape): RecordValue {
  const intl = rng.chance(0.2) ? rng.pick(INTL) : null
  const parts: string[] = [intl ? words(rng, intl.words, 2, 8) : words(rng, WORDS, 3, 18)]
  if (rng.chance(0.1)) parts.push(' ' + rng.pick(EMOJI))
  const facets: Facet[] = []
  if (shape.mention) {
    const index = appendSegment(parts, `@${shape.mention.handle}`)
    facets.push({ index, features: [{ $type: 'app.bsky.richtext.facet#mention', did: shape.mention.did }] })
  }
  if (shape.link) {
    const uri = `https://example.com/notes/${rng.int(1_000_000)}`
    facets.push({ index: appendSegment(parts, uri), features: [{ $type: 'app.bsky.richtext.facet#link', uri }] })
  }
  if (shape.tag) {
    const tag = rng.pick(['skyfill', 'atproto', 'photography', 'caturday'])
    facets.push({ index: appendSegment(parts, `#${tag}`), features: [{ $type: 'app.bsky.richtext.facet#tag', tag }] })
  }
  const record: RecordValue = { $type: 'app.bsky.feed.post', text: parts.join(''), createdAt: shape.createdAt }
  if (rng.chance(0.85)) record.langs = intl ? [intl.lang] : rng.chance(0.1) ? ['en', 'es'] : ['en']
  if (facets.length > 0) record.facets = facets
  if (shape.reply) record.reply = shape.reply
  if (shape.quote) {
    record.embed = { $type: 'app.bsky.embed.record', record: shape.quote }
  } else if (shape.external) {
    const n = rng.int(1_000_000)
    record.embed = {
      $type: 'app.bsky.embed.external',
      external: { uri: `https://example.com/articles/${n}`, title: words(rng, WORDS, 2, 6), description: words(rng, WORDS, 4, 12) },
    }
  }
  return record
}

export function like(subject: StrongRef, createdAt: string): RecordValue {
  return { $type: 'app.bsky.feed.like', subject, createdAt }
}

export function repost(subject: StrongRef, createdAt: string): RecordValue {
  return { $type: 'app.bsky.feed.repost', subject, createdAt }
}

export function follow(subject: string, createdAt: string): RecordValue {
  return { $type: 'app.bsky.graph.follow', subject, createdAt }
}

export function block(subject: string, createdAt: string): RecordValue {
  return { $type: 'app.bsky.graph.block', subject, createdAt }
}

export function profile(rng: Rng, handle: string, createdAt: string): RecordValue {
  const name = handle.split(/[.-]/)[0]
  return {
    $type: 'app.bsky.actor.profile',
    displayName: `${name[0].toUpperCase()}${name.slice(1)} ${rng.pick(EMOJI)}`,
    description: rng.pick(BIOS),
    createdAt,
  }
}

export function list(rng: Rng, createdAt: string): RecordValue {
  const moderation = rng.chance(0.3)
  return {
    $type: 'app.bsky.graph.list',
    purpose: moderation ? 'app.bsky.graph.defs#modlist' : 'app.bsky.graph.defs#curatelist',
    name: moderation ? `muted ${rng.int(100)}` : `${rng.pick(WORDS)} people`,
    description: words(rng, WORDS, 3, 10),
    createdAt,
  }
}

export function listItem(listUri: string, subject: string, createdAt: string): RecordValue {
  return { $type: 'app.bsky.graph.listitem', subject, list: listUri, createdAt }
}
