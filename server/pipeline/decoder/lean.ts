// The fast path for unauthenticated replay: synchronous, no hashing, no signature checks, no network.
// It trusts the relay for integrity and only protects itself against malformed input.
import type { DecodeResult, PipelineItem } from '../../events/index.js'
import { type CarBlocks, readCar } from './car.js'
import { type RepoMessage, dispatch } from './dispatch.js'
import type { CommitBody } from './frame.js'
import {
  REASON,
  accountItem,
  commitPosition,
  commitRejects,
  errorMessage,
  frameResult,
  identityEvent,
  internalErrorResult,
  opItem,
  precheckOp,
  tooBigRejects,
} from './items.js'
import type { FrameDecoder } from './types.js'

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
