// Query-parameter validation for the read API. Every helper reads one parameter from an Express query object and
// either returns a typed value or throws an ApiError (400 InvalidRequest) whose message names the parameter, so a
// handler never sees unvalidated input and never builds SQL from it.
import { isValidDid, isValidHandle, parseAtUriString } from '@atproto/syntax'
import { CID } from 'multiformats/cid'

/** An error with an HTTP status and an XRPC error name: the error handler answers `{error, message}` with it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export const invalidRequest = (message: string) => new ApiError(400, 'InvalidRequest', message)

export type Query = Record<string, unknown>

/** Longest value any parameter may have: an AT-URI is at most 8 KiB; nothing else comes close. */
const MAX_PARAM_LENGTH = 8192

/** The parameter as one string, or undefined when absent. Repeated or structured values are refused. */
export function optionalString(query: Query, name: string, maxLength = MAX_PARAM_LENGTH): string | undefined {
  const value = query[name]
  if (value === undefined) return undefined
  if (Array.isArray(value)) throw invalidRequest(`${name} must be given at most once`)
  if (typeof value !== 'string') throw invalidRequest(`${name} must be a string`)
  if (value.length > maxLength) throw invalidRequest(`${name} must be at most ${maxLength} characters`)
  return value
}

export function requiredString(query: Query, name: string, maxLength = MAX_PARAM_LENGTH): string {
  const value = optionalString(query, name, maxLength)
  if (value === undefined || value === '') throw invalidRequest(`${name} is required`)
  return value
}

/** An integer in [min, max]; `fallback` when absent. Only plain decimal digits are accepted ('1e2', '0x10' are not). */
export function integer(query: Query, name: string, range: { min: number; max: number; fallback: number }): number {
  const text = optionalString(query, name, 32)
  if (text === undefined) return range.fallback
  const problem = `${name} must be an integer from ${range.min} to ${range.max}`
  if (!/^-?\d{1,16}$/.test(text)) throw invalidRequest(`${problem}, got ${quote(text)}`)
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) throw invalidRequest(`${problem}, got ${value}`)
  return value
}

/** The lexicon limit convention: 1..100, 50 when absent. */
export function limit(query: Query, max = 100, fallback = 50): number {
  return integer(query, 'limit', { min: 1, max, fallback })
}

export function boolean(query: Query, name: string, fallback: boolean): boolean {
  const text = optionalString(query, name, 8)
  if (text === undefined) return fallback
  if (text === 'true' || text === '1') return true
  if (text === 'false' || text === '0') return false
  throw invalidRequest(`${name} must be true or false, got ${quote(text)}`)
}

export function oneOf<T extends string>(query: Query, name: string, values: readonly T[], fallback: T): T {
  const text = optionalString(query, name, 64)
  if (text === undefined) return fallback
  if (!(values as readonly string[]).includes(text)) throw invalidRequest(`${name} must be one of ${values.join(', ')}, got ${quote(text)}`)
  return text as T
}

/** A DID, or a handle (lower-cased, as handles are case-insensitive). */
export type AtIdentifier = { kind: 'did'; did: string } | { kind: 'handle'; handle: string }

export function atIdentifier(query: Query, name: string): AtIdentifier {
  const text = requiredString(query, name, 2048)
  if (text.startsWith('did:')) {
    if (!isValidDid(text)) throw invalidRequest(`${name} must be a DID or a handle, got ${quote(text)}`)
    return { kind: 'did', did: text }
  }
  const handle = text.toLowerCase()
  if (!isValidHandle(handle)) throw invalidRequest(`${name} must be a DID or a handle, got ${quote(text)}`)
  return { kind: 'handle', handle }
}

/** A record's AT-URI: authority (DID or handle), collection and rkey. */
export type RecordUri = { authority: AtIdentifier; collection: string; rkey: string }

export function recordUri(query: Query, name: string): RecordUri {
  const text = requiredString(query, name)
  const parsed = parseAtUriString(text)
  if (!parsed.success || !parsed.value.collection || !parsed.value.rkey || parsed.value.query || parsed.value.hash) {
    throw invalidRequest(`${name} must be an AT-URI of a record (at://<did>/<collection>/<rkey>), got ${quote(text)}`)
  }
  const { authority, collection, rkey } = parsed.value
  return {
    authority: authority.startsWith('did:') ? { kind: 'did', did: authority } : { kind: 'handle', handle: authority.toLowerCase() },
    collection,
    rkey,
  }
}

export function optionalCid(query: Query, name: string): string | undefined {
  const text = optionalString(query, name, 256)
  if (text === undefined) return undefined
  try {
    CID.parse(text)
    return text
  } catch {
    throw invalidRequest(`${name} must be a CID, got ${quote(text)}`)
  }
}

/** Input quoted in a message: bounded, and JSON-escaped so control characters cannot forge log lines. */
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)
}
