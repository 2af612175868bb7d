// The 'sync' decoder, built on @atproto/sync, the reference reading of the firehose: unauthenticated, but every
// block hash-checked. @atproto/sync skips ops it cannot read and throws whole commits away on one bad record;
// here every op of the frame comes out as an item or as a Reject saying why, as the lean decoder does.
import { type CommitEvt, parseAccount, parseCommitUnauthenticated } from '@atproto/sync'
import type { PipelineItem, RecordOp } from '../../events/index.js'
import { type CarBlocks, readCar } from './car.js'
import { asyncDecoder } from './dispatch.js'
import type { AccountBody, CommitBody, RepoOpBody } from './frame.js'
import {
  REASON,
  accountEvent,
  accountStatusReject,
  commitPosition,
  commitRejects,
  errorMessage,
  identityEvent,
  opReject,
  precheckOp,
  tooBigRejects,
} from './items.js'
import type { FrameDecoder } from './types.js'

// frame.ts has checked every field these functions read, so bodies are passed as the lexicon types they are.
type UpstreamCommit = Parameters<typeof parseCommitUnauthenticated>[0]
type UpstreamAccount = Parameters<typeof parseAccount>[0]

export function createSyncDecoder(): FrameDecoder {
  return asyncDecoder('sync', {
    commit: commitItems,
    // parseIdentity(…, unauthenticated = true) still fetches the DID document, then drops the frame's handle.
    // An unauthenticated reader has nothing but the frame, so it reads the handle as lean does.
    identity: (body) => identityEvent(body, body.handle ?? null),
    account: accountItem,
  })
}

function accountItem(body: AccountBody): PipelineItem {
  const evt = parseAccount(body as UpstreamAccount)
  if (!evt) return accountStatusReject(body, body.status ?? '')
  return accountEvent(body, evt.active ? 'active' : evt.status || 'deactivated')
}

async function commitItems(body: CommitBody): Promise<PipelineItem[]> {
  if (body.tooBig) return tooBigRejects(body)
  // Ops every decoder rejects on sight are kept from @atproto/sync, which would skip or choke on them.
  const prechecked = body.ops.map((op) => precheckOp(body, op))
  const readable = body.ops.filter((_, i) => !prechecked[i])
  // with no readable ops this still reads the commit's CAR: its position depends on it
  const read = await readOps(body, readable)
  // Only a commit block that reads is a position; an unreadable CAR already made every op a reject.
  const car = tryReadCar(body.blocks)
  const position = car ? [commitPosition(body, car)] : []
  if (body.ops.length === 0) return read.length > 0 ? read : position
  let next = 0
  return [...prechecked.map((rejected) => rejected ?? read[next++]), ...position]
}

async function readOps(body: CommitBody, ops: RepoOpBody[]): Promise<PipelineItem[]> {
  const evt = body as unknown as UpstreamCommit
  let evts: CommitEvt[]
  try {
    evts = await parseCommitUnauthenticated(ops.length === body.ops.length ? evt : { ...evt, ops: ops as UpstreamCommit['ops'] })
  } catch (err) {
    return failedOps(body, ops, err)
  }
  return matchEvents(body, ops, evts)
}

// @atproto/sync emits at most one event per op, in op order, so a single pass pairs them up and finds the gaps.
function matchEvents(body: CommitBody, ops: RepoOpBody[], evts: CommitEvt[]): PipelineItem[] {
  let next = 0
  let car: CarBlocks | null | undefined
  return ops.map((op) => {
    const evt = evts[next]
    if (evt && evt.event === op.action && `${evt.collection}/${evt.rkey}` === op.path) {
      next++
      return fromEvent(evt)
    }
    if (car === undefined) car = tryReadCar(body.blocks)
    if (op.action !== 'delete' && !car?.get(op.cid!)) return opReject(body, op, 'car', REASON.missingBlock)
    return opReject(body, op, 'car', 'op dropped by @atproto/sync')
  })
}

// @atproto/sync fails a whole commit for one unreadable record; retrying op by op finds the culprits.
async function failedOps(body: CommitBody, ops: RepoOpBody[], err: unknown): Promise<PipelineItem[]> {
  let car: CarBlocks
  try {
    car = readCar(body.blocks, { verify: true })
  } catch (carErr) {
    return commitRejects(body, ops, 'car', REASON.carUnreadable(errorMessage(carErr)))
  }
  if (ops.length > 1) return (await Promise.all(ops.map((op) => readOps(body, [op])))).flat()
  const reason = `rejected by @atproto/sync: ${errorMessage(err)}`
  if (ops.length === 0) return commitRejects(body, ops, 'car', reason)
  const op = ops[0]
  if (op.action !== 'delete' && !car.get(op.cid!)) return [opReject(body, op, 'car', REASON.missingBlock)]
  // @atproto/repo does not export MissingBlockError; its name is the only handle on it.
  const category = err instanceof Error && err.constructor.name === 'MissingBlockError' ? 'car' : 'record'
  return [opReject(body, op, category, reason)]
}

function fromEvent(evt: CommitEvt): RecordOp {
  const base = {
    seq: evt.seq,
    time: evt.time,
    did: evt.did,
    rev: evt.rev,
    collection: evt.collection,
    rkey: evt.rkey,
    uri: evt.uri.toString(),
  }
  if (evt.event === 'delete') return { ...base, kind: 'delete' }
  return { ...base, kind: evt.event, cid: evt.cid.toString(), record: evt.record }
}

function tryReadCar(blocks: Uint8Array): CarBlocks | null {
  try {
    return readCar(blocks, { verify: false })
  } catch {
    return null
  }
}
