// Lexicon validation of a firehose record against the schemas @atproto/api ships. Total: any input gets an answer,
// never an exception, and a reason is short and quotes record content only in bounded form, so rejects group well.
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { ipldToLex, lexToIpld, type Lexicons, ValidationError } from '@atproto/lexicon'
import { CID } from 'multiformats/cid'

// The schemas module of @atproto/api alone, not the package's index: the index loads the whole XRPC client (about
// 430 modules) and a second Lexicons copy of every schema, about 5 MB of heap that stays live (measured), and V8
// lets the heap grow to a multiple of what stays live. The package exports only its index, so the module is found
// beside it; a release that moves it fails here, at start, saying so.
const lexicons = await loadApiLexicons()

async function loadApiLexicons(): Promise<Lexicons> {
  const index = createRequire(import.meta.url).resolve('@atproto/api')
  const file = path.join(path.dirname(index), 'client', 'lexicons.js')
  const loaded = (await import(pathToFileURL(file).href).catch((err: unknown) => {
    throw new Error(`@atproto/api has no schemas module at ${file} (${(err as Error).message}): this release is not one skyfill knows`)
  })) as { lexicons?: Lexicons }
  if (!loaded.lexicons) throw new Error(`@atproto/api's ${file} exports no lexicons: this release is not one skyfill knows`)
  return loaded.lexicons
}

export type Validation = { ok: true } | { ok: false; reason: string }

// Real app.bsky records nest under 10 levels; the cap keeps the recursive walks below (here, in lexicon and in
// lex-json) and Postgres' jsonb parser far from their stack limits.
const MAX_DEPTH = 64

/** Whether record is a valid `collection` record, as decoded from CBOR (CID objects, Uint8Array, plain blobs). */
export function validateRecord(collection: string, record: unknown): Validation {
  const problem = shapeProblem(collection, record)
  if (problem !== null) return { ok: false, reason: `invalid record: ${problem}` }
  try {
    if (lexicons.getDef(collection)?.type !== 'record') {
      return { ok: false, reason: `no record lexicon for collection ${quote(collection)}` }
    }
    // The lexicon validator recognises blobs only as BlobRef instances, which CBOR decoding does not produce, and
    // ipldToLex alone would flatten BlobRefs already present: lexToIpld first turns those back into plain blobs.
    lexicons.assertValidRecord(collection, ipldToLex(lexToIpld(record)))
    return { ok: true }
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, reason: `invalid record: ${err.message}` }
    return { ok: false, reason: `record could not be validated: ${quote(String(err))}` }
  }
}

/** What the lexicon validator would not report clearly, or could not survive: the wrong shape, $type, depth. */
function shapeProblem(collection: string, record: unknown): string | null {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    return `must be an object, got ${Array.isArray(record) ? 'an array' : record === null ? 'null' : typeof record}`
  }
  const type = (record as Record<string, unknown>).$type
  if (typeof type !== 'string') return '$type is missing'
  if (type !== collection) return `$type ${quote(type)} does not match collection ${quote(collection)}`
  if (exceedsDepth(record)) return `nested deeper than ${MAX_DEPTH} levels`
  return null
}

// Recursive, but never deeper than the cap, and returning at the first value past it, so neither depth nor a
// cycle can make it run away; no stack of pairs to allocate for every value of every record.
function exceedsDepth(value: unknown, depth = 1): boolean {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || CID.asCID(value)) return false
  if (depth > MAX_DEPTH) return true
  if (Array.isArray(value)) {
    for (const child of value) if (exceedsDepth(child, depth + 1)) return true
    return false
  }
  for (const key in value) if (exceedsDepth((value as Record<string, unknown>)[key], depth + 1)) return true
  return false
}

// Outside text in a reason: bounded, and quoted by JSON.stringify, which also escapes U+0000 (text cannot hold it).
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)
}
