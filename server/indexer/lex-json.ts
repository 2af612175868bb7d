// The JSON form of a record for jsonb columns: atproto "lex JSON" ({"$link"} for CIDs, {"$bytes"} for bytes, blobs
// as {"$type":"blob","ref":{"$link"},...}). @atproto/lexicon's lexToJson does the encoding and also unwraps BlobRef
// instances to their original form; this module adds what Postgres needs on top of it.
import { lexToJson } from '@atproto/lexicon'
import { RecordRejection } from './records/types.js'

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/**
 * The lex JSON form of an IPLD value. Throws RecordRejection when Postgres could not store it: U+0000 in a string
 * or key (text and jsonb both refuse it), or a value with no JSON form (e.g. a BigInt from a huge CBOR integer).
 */
export function toLexJson(value: unknown): JsonValue {
  let json: JsonValue
  try {
    json = lexToJson(value) as JsonValue
  } catch (err) {
    throw new RecordRejection(`record has no JSON form: ${err instanceof Error ? err.message : String(err)}`)
  }
  const nulAt = findNul(json, '')
  if (nulAt !== null) throw new RecordRejection(`record field ${nulAt || '(root)'} contains U+0000`)
  return json
}

/** The slash-separated path of the first string or key holding U+0000, or null. */
function findNul(value: JsonValue, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null
  if (value === null || typeof value !== 'object') return null
  const entries: [string, JsonValue][] = Array.isArray(value)
    ? value.map((item, i) => [String(i), item])
    : Object.entries(value)
  for (const [key, item] of entries) {
    const itemPath = path ? `${path}/${printable(key)}` : printable(key)
    if (key.includes('\u0000')) return itemPath
    const found = findNul(item, itemPath)
    if (found !== null) return found
  }
  return null
}

/** A key as it may appear in a reason: the reason is itself stored as text, so no U+0000, and kept short. */
function printable(key: string): string {
  const escaped = key.replaceAll('\u0000', '\\u0000')
  return escaped.length > 64 ? `${escaped.slice(0, 64)}…` : escaped
}
