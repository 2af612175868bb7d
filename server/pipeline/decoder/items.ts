// Item builders shared by every decoder, so that decoders agree on everything except how they read a commit.
import { decode } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'
import type {
  AccountEvent,
  AccountStatus,
  CommitPosition,
  DecodeResult,
  IdentityEvent,
  PipelineItem,
  RecordOp,
  RecordValue,
  Reject,
  RejectCategory,
  SyncPosition,
} from '../../events/index.js'
import { type CarBlocks, type CidLike, readCar } from './car.js'
import { cidString } from './cid-string.js'
import type { AccountBody, CommitBody, IdentityBody, ParsedFrame, RepoOpBody, SyncBody } from './frame.js'
import { parseOpPath } from './ops.js'

export const REASON = {
  carUnreadable: (message: string) => `commit CAR unreadable: ${message}`,
  missingBlock: 'record block missing from CAR',
  noCid: (action: string) => `${action} op has no cid`,
  badPath: 'op path is not a valid collection/rkey',
  tooBig: 'tooBig commit: its ops are not in the frame, the repo needs a resync',
  commitBlock: (problem: string) => `commit block ${problem}: the repo's position cannot be followed`,
  accountStatus: (status: string) => `account status "${status}" is not indexed`,
} as const

const INACTIVE_STATUSES: ReadonlySet<string> = new Set<AccountStatus>(['takendown', 'suspended', 'deactivated', 'deleted'])

const EXCERPT_BYTES = 64
const EXCERPT_CHARS = 300

export function frameResult(seq: number | null, time: string | null, items: PipelineItem[]): DecodeResult {
  return { kind: 'frame', frame: { seq, time, items } }
}

export function invalidFrameResult(parsed: Extract<ParsedFrame, { kind: 'invalid' }>, bytes: Uint8Array): DecodeResult {
  const { seq, time, did, reason } = parsed
  // The reason can quote hostile input (a header op, a CBOR error), so it is bounded like any excerpt.
  return frameResult(seq, time, [eventReject({ seq, time, did }, 'frame', truncate(reason), bytesExcerpt(bytes))])
}

// A message type from a newer lexicon is counted and passed; without a seq there is no position to pass.
export function unknownTypeResult(parsed: Extract<ParsedFrame, { kind: 'unknown' }>): DecodeResult {
  if (parsed.seq !== null) return frameResult(parsed.seq, parsed.time, [])
  const reason = `message type "${truncate(parsed.type)}" has no seq`
  return frameResult(null, parsed.time, [eventReject({ seq: null, time: parsed.time, did: null }, 'unsupported', reason, null)])
}

/** Last resort for a decoder bug: the contract is to never throw, and a visible reject beats a lost frame. */
export function internalErrorResult(err: unknown, bytes: Uint8Array): DecodeResult {
  const reason = `decoder failed unexpectedly: ${errorMessage(err)}`
  return frameResult(null, null, [eventReject({ seq: null, time: null, did: null }, 'frame', reason, bytesExcerpt(bytes))])
}

/** A #sync frame becomes the repo's announced position; its CAR holds just the commit block, named as its root. */
export function syncResult(body: SyncBody): DecodeResult {
  const at = { seq: body.seq, time: body.time, did: body.did }
  let car: CarBlocks
  try {
    car = readCar(body.blocks, { verify: true })
  } catch (err) {
    return frameResult(body.seq, body.time, [eventReject(at, 'car', REASON.carUnreadable(errorMessage(err)), { rev: body.rev })])
  }
  const read = commitData(car, car.roots[0], body.did, body.rev)
  const item: SyncPosition | Reject =
    typeof read === 'string'
      ? eventReject(at, 'car', REASON.commitBlock(read), { rev: body.rev })
      : { kind: 'sync', seq: body.seq, time: body.time, did: body.did, rev: body.rev, data: read.data }
  return frameResult(body.seq, body.time, [item])
}

/** The commit's position in its repo's history, from the frame and its signed commit block. */
export function commitPosition(body: CommitBody, car: CarBlocks): CommitPosition | Reject {
  const read = commitData(car, body.commit, body.repo, body.rev)
  if (typeof read === 'string') {
    return eventReject({ seq: body.seq, time: body.time, did: body.repo }, 'car', REASON.commitBlock(read), { rev: body.rev })
  }
  return {
    kind: 'commit',
    seq: body.seq,
    time: body.time,
    did: body.repo,
    rev: body.rev,
    since: body.since ?? null,
    prevData: body.prevData ? cidString(body.prevData) : null,
    data: read.data,
  }
}

/** The `data` CID of the commit block `cid`, or what is wrong with that block. */
function commitData(car: CarBlocks, cid: CidLike | undefined, did: string, rev: string): { data: string } | string {
  const block = cid && car.get(cid)
  if (!block) return 'missing from CAR'
  let commit: unknown
  try {
    commit = decode(block)
  } catch {
    return 'is not DAG-CBOR'
  }
  const { did: commitDid, rev: commitRev, data } = (typeof commit === 'object' && commit !== null ? commit : {}) as Record<string, unknown>
  const dataCid = CID.asCID(data)
  if (!dataCid) return 'has no data CID'
  if (commitDid !== did || commitRev !== rev) return "names another repo or rev than the frame's"
  return { data: cidString(dataCid) }
}

// Same rule as @atproto/sync's parseAccount: an unrecognised status is not guessed at, whatever `active` says.
export function accountItem(body: AccountBody): PipelineItem {
  if (body.status && !INACTIVE_STATUSES.has(body.status)) return accountStatusReject(body, body.status)
  return accountEvent(body, body.active ? 'active' : ((body.status || 'deactivated') as AccountStatus))
}

/** A create, update or delete read from the commit's CAR, as every decoder that trusts its blocks reads it. */
export function opItem(body: CommitBody, op: RepoOpBody, car: CarBlocks): PipelineItem {
  const { collection, rkey } = parseOpPath(op.path)!
  const base = { seq: body.seq, time: body.time, did: body.repo, rev: body.rev, collection, rkey }
  const uri = `at://${body.repo}/${collection}/${rkey}`
  if (op.action === 'delete') return { ...base, uri, kind: 'delete' }
  const cid = op.cid!
  const block = car.get(cid)
  if (!block) return opReject(body, op, 'car', REASON.missingBlock)
  let record: unknown
  try {
    record = decode(block)
  } catch (err) {
    return opReject(body, op, 'record', `record block is not DAG-CBOR: ${errorMessage(err)}`)
  }
  if (!isRecordValue(record)) return opReject(body, op, 'record', 'record is not a map')
  return { ...base, uri, kind: op.action, cid: cidString(cid), record } satisfies RecordOp
}

function isRecordValue(value: unknown): value is RecordValue {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export function identityEvent(body: IdentityBody, handle: string | null): IdentityEvent {
  return { kind: 'identity', seq: body.seq, time: body.time, did: body.did, handle }
}

export function accountEvent(body: { seq: number; time: string; did: string }, status: AccountEvent['status']): AccountEvent {
  return { kind: 'account', seq: body.seq, time: body.time, did: body.did, status }
}

export function accountStatusReject(body: { seq: number; time: string; did: string }, status: string): Reject {
  return eventReject(body, 'unsupported', REASON.accountStatus(truncate(status)), { status: truncate(status) })
}

export function opReject(body: CommitBody, op: RepoOpBody, category: RejectCategory, reason: string): Reject {
  const target = parseOpPath(op.path)
  return {
    kind: 'reject',
    seq: body.seq,
    time: body.time,
    did: body.repo,
    uri: target ? `at://${body.repo}/${op.path}` : null,
    collection: target?.collection ?? null,
    category,
    reason,
    detail: { action: op.action, path: truncate(op.path), cid: op.cid?.toString() ?? null, rev: body.rev },
  }
}

/** Checks every decoder applies before looking at blocks; undefined when the op may proceed. */
export function precheckOp(body: CommitBody, op: RepoOpBody): Reject | undefined {
  if (!parseOpPath(op.path)) return opReject(body, op, 'record', REASON.badPath)
  if (op.action !== 'delete' && !op.cid) return opReject(body, op, 'record', REASON.noCid(op.action))
  return undefined
}

/**
 * One reject per op when a whole commit fails, an op's own defect taking precedence so every decoder names the
 * same cause; a commit naming no ops still gets one reject, so its failure is never silent.
 */
export function commitRejects(body: CommitBody, ops: RepoOpBody[], category: RejectCategory, reason: string): Reject[] {
  if (body.ops.length === 0) {
    return [eventReject({ seq: body.seq, time: body.time, did: body.repo }, category, reason, { rev: body.rev })]
  }
  return ops.map((op) => precheckOp(body, op) ?? opReject(body, op, category, reason))
}

export function tooBigRejects(body: CommitBody): Reject[] {
  return commitRejects(body, body.ops, 'unsupported', REASON.tooBig)
}

export function errorMessage(err: unknown): string {
  return truncate(err instanceof Error ? err.message : String(err))
}

/** A reject not tied to one record: a whole frame, or an identity/account event. */
export function eventReject(
  at: { seq: number | null; time: string | null; did: string | null },
  category: RejectCategory,
  reason: string,
  detail: unknown,
): Reject {
  return { kind: 'reject', seq: at.seq, time: at.time, did: at.did, uri: null, collection: null, category, reason, detail }
}

function bytesExcerpt(bytes: Uint8Array): { length: number; head: string } {
  return { length: bytes.length, head: Buffer.from(bytes.subarray(0, EXCERPT_BYTES)).toString('hex') }
}

function truncate(text: string): string {
  return text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text
}
