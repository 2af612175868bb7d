// Splits a subscribeRepos frame (two concatenated DAG-CBOR values: header, body) and checks the body's shape
// for the message types we act on. The checks are hand-written on purpose: a lexicon validator costs more than
// the rest of the lean decode, and we only need the fields we read to be what we assume they are.
// Bodies are the decoded objects themselves, narrowed by type, never copies: the 'sync' decoder hands them
// to @atproto/sync unchanged.
import { decodeAll } from '@atproto/lex-cbor'
import { isValidDid, isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import type { ControlFrame } from '../../events/index.js'

export type RepoOpBody = {
  action: 'create' | 'update' | 'delete'
  path: string
  cid: CID | null
  /** The record CID the op replaced or deleted (Sync 1.1); absent from creates and older frames. */
  prev?: CID | null
}

export type CommitBody = {
  seq: number
  repo: string
  rev: string
  /** The previous commit's rev (null for a repo's first commit); older frames may leave it out. */
  since?: string | null
  /** The data CID before this commit (Sync 1.1); absent from older frames. */
  prevData?: CID | null
  time: string
  commit: CID
  tooBig?: boolean
  ops: RepoOpBody[]
  blocks: Uint8Array
}

export type IdentityBody = { seq: number; did: string; time: string; handle?: string | null }
export type AccountBody = { seq: number; did: string; time: string; active: boolean; status?: string }
export type SyncBody = { seq: number; did: string; time: string; rev: string; blocks: Uint8Array }

/** What a frame turned out to be. `invalid` keeps whatever could still be read of it, for the reject. */
export type ParsedFrame =
  | { kind: 'commit'; body: CommitBody }
  | { kind: 'identity'; body: IdentityBody }
  | { kind: 'account'; body: AccountBody }
  | { kind: 'sync'; body: SyncBody }
  | { kind: 'unknown'; type: string; seq: number | null; time: string | null }
  | ControlFrame
  | { kind: 'invalid'; seq: number | null; time: string | null; did: string | null; reason: string }

type Body = Record<string, unknown>

class ShapeError extends Error {}

const OP_MESSAGE = 1
const OP_ERROR = -1
const ACTIONS = new Set(['create', 'update', 'delete'])
const MAX_TIME_LENGTH = 64

export function parseFrame(bytes: Uint8Array): ParsedFrame {
  let header: unknown
  let body: unknown
  try {
    const values = decodeAll(bytes)
    header = values.next().value
    const second = values.next()
    if (second.done) return invalid(undefined, 'frame has a header but no body')
    body = second.value
    if (!values.next().done) return invalid(body, 'frame has data after its body')
  } catch (err) {
    return invalid(body, `frame is not two DAG-CBOR values: ${(err as Error).message}`)
  }
  if (!isMap(header)) return invalid(body, 'frame header is not a map')
  if (!isMap(body)) return invalid(body, 'frame body is not a map')
  try {
    if (header.op === OP_ERROR) return { kind: 'error', ...named(body, 'error') }
    if (header.op !== OP_MESSAGE) return invalid(body, `frame header op ${String(header.op)} is neither 1 nor -1`)
    return message(typeof header.t === 'string' ? header.t : '', body)
  } catch (err) {
    if (err instanceof ShapeError) return invalid(body, `${messageName(header)} body ${err.message}`)
    throw err
  }
}

function message(type: string, body: Body): ParsedFrame {
  switch (type) {
    case '#commit':
      return { kind: 'commit', body: commitBody(body) }
    case '#identity':
      return { kind: 'identity', body: identityBody(body) }
    case '#account':
      return { kind: 'account', body: accountBody(body) }
    case '#sync':
      return { kind: 'sync', body: syncBody(body) }
    case '#info':
      return { kind: 'info', ...named(body, 'name') }
    default:
      return { kind: 'unknown', type, seq: readableSeq(body), time: readableTime(body) }
  }
}

function commitBody(body: Body): CommitBody {
  need(isSeq(body.seq), 'seq', 'a positive safe integer')
  need(isValidDid(body.repo), 'repo', 'a DID')
  need(isValidTid(body.rev), 'rev', 'a TID')
  need(isTime(body.time), 'time', 'a datetime')
  need(isCid(body.commit), 'commit', 'a CID')
  need(body.since === undefined || body.since === null || isValidTid(body.since), 'since', 'a TID or null')
  need(body.prevData === undefined || body.prevData === null || isCid(body.prevData), 'prevData', 'a CID or null')
  need(body.tooBig === undefined || typeof body.tooBig === 'boolean', 'tooBig', 'a boolean')
  need(body.blocks instanceof Uint8Array, 'blocks', 'bytes')
  need(Array.isArray(body.ops), 'ops', 'an array')
  ;(body.ops as unknown[]).forEach(checkOp)
  return body as CommitBody
}

// The path's collection/rkey syntax is checked per op later, so one bad path rejects one op, not the commit.
function checkOp(op: unknown, index: number): void {
  need(isMap(op), `ops[${index}]`, 'a map')
  const { action, path, cid, prev } = op as Body
  need(typeof action === 'string' && ACTIONS.has(action), `ops[${index}].action`, 'create, update or delete')
  need(typeof path === 'string', `ops[${index}].path`, 'a string')
  need(cid === null || isCid(cid), `ops[${index}].cid`, 'a CID or null')
  need(prev === undefined || prev === null || isCid(prev), `ops[${index}].prev`, 'a CID or null')
}

function identityBody(body: Body): IdentityBody {
  checkRepoEvent(body)
  need(body.handle === undefined || body.handle === null || typeof body.handle === 'string', 'handle', 'a string')
  return body as IdentityBody
}

function accountBody(body: Body): AccountBody {
  checkRepoEvent(body)
  need(typeof body.active === 'boolean', 'active', 'a boolean')
  need(body.status === undefined || typeof body.status === 'string', 'status', 'a string')
  return body as AccountBody
}

function syncBody(body: Body): SyncBody {
  checkRepoEvent(body)
  need(isValidTid(body.rev), 'rev', 'a TID')
  need(body.blocks instanceof Uint8Array, 'blocks', 'bytes')
  return body as SyncBody
}

function checkRepoEvent(body: Body): void {
  need(isSeq(body.seq), 'seq', 'a positive safe integer')
  need(isValidDid(body.did), 'did', 'a DID')
  need(isTime(body.time), 'time', 'a datetime')
}

/** #info and error frames share a shape: a required name field and an optional message. */
function named(body: Body, field: 'name' | 'error'): { name: string; message: string | null } {
  const name = body[field]
  need(typeof name === 'string', field, 'a string')
  need(body.message === undefined || typeof body.message === 'string', 'message', 'a string')
  return { name: name as string, message: (body.message as string | undefined) ?? null }
}

function need(ok: boolean, field: string, expected: string): void {
  if (!ok) throw new ShapeError(`${field} is not ${expected}`)
}

function invalid(body: unknown, reason: string): ParsedFrame {
  const readable = isMap(body) ? body : {}
  const did = readable.repo ?? readable.did
  return {
    kind: 'invalid',
    seq: readableSeq(readable),
    time: readableTime(readable),
    did: isValidDid(did) ? did : null,
    reason,
  }
}

function messageName(header: Body): string {
  return header.op === OP_ERROR ? 'error frame' : typeof header.t === 'string' ? header.t : 'message'
}

function readableSeq(body: Body): number | null {
  return isSeq(body.seq) ? body.seq : null
}

function readableTime(body: Body): string | null {
  return isTime(body.time) ? body.time : null
}

function isSeq(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

// Consumers compare frame times with Date.parse; anything it cannot read would poison those comparisons.
function isTime(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TIME_LENGTH && !Number.isNaN(Date.parse(value))
}

// lex-cbor decodes CIDs with its own copy of multiformats; asCID recognises any version without copying it here.
function isCid(value: unknown): boolean {
  return CID.asCID(value) !== null
}

function isMap(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !isCid(value)
}
