// The fast path for unauthenticated replay: synchronous, no hashing, no signature checks, no network.
// It trusts the relay for integrity and only protects itself against malformed input.
import { decode } from '@atproto/lex-cbor'
import type { AccountStatus, DecodeResult, PipelineItem, RecordOp, RecordValue } from '../../events/index.js'
import { CarBlocks, readCar } from './car.js'
import { cidString } from './cid-string.js'
import { type RepoMessage, dispatch } from './dispatch.js'
import type { AccountBody, CommitBody, RepoOpBody } from './frame.js'
import {
  REASON,
  accountEvent,
  accountStatusReject,
  commitPosition,
  commitRejects,
  errorMessage,
  frameResult,
  identityEvent,
  internalErrorResult,
  opReject,
  precheckOp,
  tooBigRejects,
} from './items.js'
import { parseOpPath } from './ops.js'
import type { FrameDecoder } from './types.js'

const INACTIVE_STATUSES: ReadonlySet<string> = new Set<AccountStatus>(['takendown', 'suspended', 'deactivated', 'deleted'])

export function createLeanDecoder(): FrameDecoder {
  return { name: 'lean', decode: decodeLean }
}

export function decodeLean(bytes: Uint8Array): DecodeResult {
  try {
    return dispatch(bytes, repoMessage)
  } catch (err) {
    return internalErrorResult(err, bytes)
  }
}

function repoMessage(message: RepoMessage): DecodeResult {
  const { seq, time } = message.body
  switch (message.kind) {
    case 'commit':
      return frameResult(seq, time, commitItems(message.body))
    case 'identity':
      return frameResult(seq, time, [identityEvent(message.body, message.body.handle ?? null)])
    case 'account':
      return frameResult(seq, time, [accountItem(message.body)])
  }
}

// Same rule as @atproto/sync's parseAccount: an unrecognised status is not guessed at, whatever `active` says.
function accountItem(body: AccountBody): PipelineItem {
  if (body.status && !INACTIVE_STATUSES.has(body.status)) return accountStatusReject(body, body.status)
  return accountEvent(body, body.active ? 'active' : ((body.status || 'deactivated') as AccountStatus))
}

function commitItems(body: CommitBody): PipelineItem[] {
  if (body.tooBig) return tooBigRejects(body)
  let car: CarBlocks
  try {
    car = readCar(body.blocks, { verify: false })
  } catch (err) {
    return commitRejects(body, body.ops, 'car', REASON.carUnreadable(errorMessage(err)))
  }
  return [...body.ops.map((op) => precheckOp(body, op) ?? opItem(body, op, car)), commitPosition(body, car)]
}

function opItem(body: CommitBody, op: RepoOpBody, car: CarBlocks): PipelineItem {
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
