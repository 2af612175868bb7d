// Reading column values out of a record. Lexicon validation has already run, but it allows things a column cannot
// hold (U+0000 in text, datetimes Postgres rejects or that Date reads in the local time zone), so every value is
// checked here and a bad one becomes a RecordRejection naming the field, never a failing batch.
import { CID } from 'multiformats/cid'
import type { RecordValue } from '../../events/index.js'
import { RecordRejection } from './types.js'

/** A required string at a slash-separated path, e.g. 'subject/uri'. */
export function text(record: RecordValue, path: string): string {
  const value = optionalText(record, path)
  if (value === null) throw new RecordRejection(`record field ${path} is missing`)
  return value
}

export function optionalText(record: RecordValue, path: string): string | null {
  const value = valueAt(record, path)
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw new RecordRejection(`record field ${path} is not a string`)
  if (value.includes('\u0000')) throw new RecordRejection(`record field ${path} contains U+0000`)
  return value
}

/** record.createdAt as an ISO 8601 UTC string that timestamptz accepts. */
export function createdAt(record: RecordValue): string {
  const value = optionalCreatedAt(record)
  if (value === null) throw new RecordRejection('record field createdAt is missing')
  return value
}

/**
 * When a post or repost sorts in a feed: its createdAt, unless that claims a time after the frame was sequenced
 * (an author can write any createdAt; a post dated 2099 must not stay on top of every feed).
 */
export function sortAt(createdAtIso: string, frameTime: string): string {
  return Date.parse(frameTime) < Date.parse(createdAtIso) ? new Date(frameTime).toISOString() : createdAtIso
}

export function optionalCreatedAt(record: RecordValue): string | null {
  const value = optionalText(record, 'createdAt')
  return value === null ? null : toTimestamp(value)
}

/** The CID (as a string) of the blob at path, or null when there is none. */
export function blobCid(record: RecordValue, path: string): string | null {
  const blob = valueAt(record, path)
  if (blob === undefined || blob === null) return null
  // Current blobs (plain objects from CBOR, or BlobRef instances) carry `ref`; legacy ones only a `cid` string.
  const cid = CID.asCID(valueAt(blob, 'ref')) ?? parseCid(valueAt(blob, 'cid'))
  if (cid === null) throw new RecordRejection(`record field ${path} is not a blob reference`)
  return cid.toString()
}

// Lexicon 'datetime' is lenient: it lets through strings with no time zone (which Date would read in the server's
// zone), ISO basic format and leap seconds (which Date cannot parse) and years that Postgres has no room for.
const HAS_ZONE = /(?:z|[+-]\d\d(?::?\d\d)?)$/i
const MIN_YEAR = 1
const MAX_YEAR = 9999

function toTimestamp(value: string): string {
  const date = new Date(HAS_ZONE.test(value) ? value : `${value}Z`)
  const year = date.getUTCFullYear()
  if (Number.isNaN(year)) throw new RecordRejection('record field createdAt is not a date that can be parsed')
  if (year < MIN_YEAR || year > MAX_YEAR) {
    throw new RecordRejection(`record field createdAt is outside years ${MIN_YEAR}..${MAX_YEAR} in UTC`)
  }
  return date.toISOString()
}

function parseCid(value: unknown): CID | null {
  if (typeof value !== 'string') return null
  try {
    return CID.parse(value)
  } catch {
    return null
  }
}

function valueAt(value: unknown, path: string): unknown {
  let current = value
  for (const key of path.split('/')) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}
