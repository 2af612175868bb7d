// Decoders built on @atproto/sync, the reference reading of the firehose: 'sync' (unauthenticated, but every
// block hash-checked) and 'verified' (commit signature and MST proofs checked against the repo's DID key).
// @atproto/sync skips ops it cannot read and throws whole commits away on one bad record; here every op of
// the frame comes out as an item or as a Reject saying why, as the lean decoder does.
import {
  DidNotFoundError,
  type IdResolver,
  PoorlyFormattedDidDocumentError,
  PoorlyFormattedDidError,
  UnsupportedDidMethodError,
} from '@atproto/identity'
import { RepoVerificationError } from '@atproto/repo'
import {
  type CommitEvt,
  parseAccount,
  parseCommitAuthenticated,
  parseCommitUnauthenticated,
  parseIdentity,
} from '@atproto/sync'
import type { DecodeResult, PipelineItem, RecordOp, RejectCategory } from '../../events/index.js'
import { type CarBlocks, readCar } from './car.js'
import { type RepoMessage, dispatch } from './dispatch.js'
import type { AccountBody, CommitBody, IdentityBody, RepoOpBody } from './frame.js'
import {
  REASON,
  accountEvent,
  accountStatusReject,
  commitPosition,
  commitRejects,
  errorMessage,
  eventReject,
  frameResult,
  identityEvent,
  internalErrorResult,
  opReject,
  precheckOp,
  tooBigRejects,
} from './items.js'
import { DEFAULT_RETRY, RetriesExhaustedError, type RetryPolicy, withRetry } from './retry.js'
import type { FrameDecoder } from './types.js'

// frame.ts has checked every field these functions read, so bodies are passed as the lexicon types they are.
type UpstreamCommit = Parameters<typeof parseCommitUnauthenticated>[0]
type UpstreamIdentity = Parameters<typeof parseIdentity>[1]
type UpstreamAccount = Parameters<typeof parseAccount>[0]

/** What differs between the two modes. */
type Mode = {
  name: 'sync' | 'verified'
  parseCommit(evt: UpstreamCommit): Promise<CommitEvt[]>
  identity(body: IdentityBody): Promise<PipelineItem>
  /** How to report an op @atproto/sync left out although its record block is in the CAR. */
  dropped: { category: RejectCategory; reason: string }
}

/** A failure to establish who signed a commit, as opposed to a defect in the commit's data. */
class VerifyError extends Error {
  override readonly name = 'VerifyError'
}

const IDENTITY_ERRORS = [DidNotFoundError, PoorlyFormattedDidError, PoorlyFormattedDidDocumentError, UnsupportedDidMethodError]

export function createSyncDecoder(): FrameDecoder {
  return upstreamDecoder({
    name: 'sync',
    parseCommit: (evt) => parseCommitUnauthenticated(evt),
    // parseIdentity(…, unauthenticated = true) still fetches the DID document, then drops the frame's handle.
    // An unauthenticated reader has nothing but the frame, so it reads the handle as lean does.
    identity: async (body) => identityEvent(body, body.handle ?? null),
    dropped: { category: 'car', reason: 'op dropped by @atproto/sync' },
  })
}

/** `idResolver` should cache DID documents: every commit needs its repo's key. */
export function createVerifiedDecoder(idResolver: IdResolver, retry: RetryPolicy = DEFAULT_RETRY): FrameDecoder {
  return upstreamDecoder({
    name: 'verified',
    async parseCommit(evt) {
      // Resolving up front, with retries, keeps identity trouble apart from defects in the commit;
      // parseCommitAuthenticated then finds the key in the resolver's cache.
      try {
        await withRetry(() => idResolver.did.resolveAtprotoKey(evt.repo), retry)
      } catch (err) {
        throw new VerifyError(`cannot resolve the repo's signing key: ${errorMessage(err)}`, { cause: err })
      }
      try {
        return await withRetry(() => parseCommitAuthenticated(idResolver, evt), retry)
      } catch (err) {
        // A bad signature makes @atproto/sync refetch the key once, so network failures can surface here too.
        if (err instanceof RepoVerificationError || err instanceof RetriesExhaustedError || isIdentityError(err)) {
          throw new VerifyError(`commit not verified: ${errorMessage(err)}`, { cause: err })
        }
        throw err
      }
    },
    async identity(body) {
      try {
        const evt = await withRetry(() => parseIdentity(idResolver, body as UpstreamIdentity, false), retry)
        return identityEvent(body, evt?.handle ?? null)
      } catch (err) {
        return eventReject(body, 'verify', `cannot verify the handle: ${errorMessage(err)}`, { handle: body.handle ?? null })
      }
    },
    dropped: { category: 'verify', reason: 'op not proven by the signed commit' },
  })
}

function upstreamDecoder(mode: Mode): FrameDecoder {
  return {
    name: mode.name,
    async decode(bytes) {
      try {
        return await dispatch(bytes, (message) => repoMessage(message, mode))
      } catch (err) {
        return internalErrorResult(err, bytes)
      }
    },
  }
}

async function repoMessage(message: RepoMessage, mode: Mode): Promise<DecodeResult> {
  const { seq, time } = message.body
  switch (message.kind) {
    case 'commit':
      return frameResult(seq, time, await commitItems(message.body, mode))
    case 'identity':
      return frameResult(seq, time, [await mode.identity(message.body)])
    case 'account':
      return frameResult(seq, time, [accountItem(message.body)])
  }
}

function accountItem(body: AccountBody): PipelineItem {
  const evt = parseAccount(body as UpstreamAccount)
  if (!evt) return accountStatusReject(body, body.status ?? '')
  return accountEvent(body, evt.active ? 'active' : evt.status || 'deactivated')
}

async function commitItems(body: CommitBody, mode: Mode): Promise<PipelineItem[]> {
  if (body.tooBig) return tooBigRejects(body)
  // Ops every decoder rejects on sight are kept from @atproto/sync, which would skip or choke on them.
  const prechecked = body.ops.map((op) => precheckOp(body, op))
  const readable = body.ops.filter((_, i) => !prechecked[i])
  let read: PipelineItem[]
  try {
    // with no readable ops this still reads (and, verified, checks) the commit: its position depends on it
    read = await readOps(body, readable, mode)
  } catch (err) {
    // A commit whose signer is unknown says nothing trustworthy, its position included.
    if (!(err instanceof VerifyError)) throw err
    return commitRejects(body, body.ops, 'verify', err.message)
  }
  // Only a commit block that reads is a position; an unreadable CAR already made every op a reject.
  const car = tryReadCar(body.blocks)
  const position = car ? [commitPosition(body, car)] : []
  if (body.ops.length === 0) return read.length > 0 ? read : position
  let next = 0
  return [...prechecked.map((rejected) => rejected ?? read[next++]), ...position]
}

async function readOps(body: CommitBody, ops: RepoOpBody[], mode: Mode): Promise<PipelineItem[]> {
  const evt = body as unknown as UpstreamCommit
  let evts: CommitEvt[]
  try {
    evts = await mode.parseCommit(ops.length === body.ops.length ? evt : { ...evt, ops: ops as UpstreamCommit['ops'] })
  } catch (err) {
    return failedOps(body, ops, err, mode)
  }
  return matchEvents(body, ops, evts, mode)
}

// @atproto/sync emits at most one event per op, in op order, so a single pass pairs them up and finds the gaps.
function matchEvents(body: CommitBody, ops: RepoOpBody[], evts: CommitEvt[], mode: Mode): PipelineItem[] {
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
    return opReject(body, op, mode.dropped.category, mode.dropped.reason)
  })
}

// @atproto/sync fails a whole commit for one unreadable record; retrying op by op finds the culprits.
async function failedOps(body: CommitBody, ops: RepoOpBody[], err: unknown, mode: Mode): Promise<PipelineItem[]> {
  if (err instanceof VerifyError) throw err
  let car: CarBlocks
  try {
    car = readCar(body.blocks, { verify: true })
  } catch (carErr) {
    return commitRejects(body, ops, 'car', REASON.carUnreadable(errorMessage(carErr)))
  }
  if (ops.length > 1) return (await Promise.all(ops.map((op) => readOps(body, [op], mode)))).flat()
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

function isIdentityError(err: unknown): boolean {
  return IDENTITY_ERRORS.some((type) => err instanceof type)
}
