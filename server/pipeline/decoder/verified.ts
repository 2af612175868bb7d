// The 'verified' decoder: a commit's ops are indexed only as far as its repo's signing key vouches for them.
// Every block is hash-checked, the commit block's signature is checked against the DID document's key, each op
// is proven by the signed MST, and, when the frame carries Sync 1.1's prevData, the ops undone on that tree
// must give back prevData, so no change is hidden from us. All of it synchronous and native, except the DID
// lookups, which are cached by the resolver. An #identity frame's handle is never taken: nothing signs it, and
// checking it here (DNS, then HTTPS, one frame at a time) held the whole stream up for each lookup. The frame only
// marks the actor due, and the identity service verifies its handle both ways after the batch commits, paced per
// host; until then an actor never verified has no handle rather than an unverified one.
import { type DidDocument, type IdResolver, ensureAtprotoKey } from '@atproto/identity'
import { decode, encode } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'
import type { PipelineItem } from '../../events/index.js'
import { type CarBlocks, type CidLike, readCar } from './car.js'
import { asyncDecoder } from './dispatch.js'
import type { CommitBody, RepoOpBody } from './frame.js'
import {
  REASON,
  accountItem,
  commitPosition,
  commitRejects,
  errorMessage,
  identityEvent,
  opItem,
  opReject,
  precheckOp,
  tooBigRejects,
} from './items.js'
import { MstError, PartialMst, type Undo, sameCid } from './mst.js'
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from './retry.js'
import { DidKeyError, SignatureVerifier } from './signature.js'
import { type SignedCommitFields, readCanonicalCommit } from './signed-commit.js'
import type { FrameDecoder } from './types.js'

/** Why a commit, as a whole, is not taken: its position included, since nothing in it can be trusted. */
class VerifyError extends Error {
  override readonly name = 'VerifyError'
}

const NOT_PROVEN = 'op not proven by the signed commit'

export type VerifiedDecoderOptions = { retry?: RetryPolicy; signatures?: SignatureVerifier }

/** `idResolver` should cache DID documents: every commit needs its repo's key. */
export function createVerifiedDecoder(idResolver: IdResolver, opts: VerifiedDecoderOptions = {}): FrameDecoder {
  const retry = opts.retry ?? DEFAULT_RETRY
  const signatures = opts.signatures ?? new SignatureVerifier()
  // Reading the key out of a DID document decompresses its point in pure JS, which costs more than the whole
  // native verification; the resolver hands back the same document object until it refetches it.
  const keysByDocument = new WeakMap<DidDocument, string>()

  async function signingKey(did: string, refresh: boolean): Promise<string> {
    try {
      const doc = await withRetry(() => idResolver.did.ensureResolve(did, refresh), retry)
      let key = keysByDocument.get(doc)
      if (key === undefined) {
        key = ensureAtprotoKey(doc)
        keysByDocument.set(doc, key)
      }
      return key
    } catch (err) {
      throw new VerifyError(`cannot resolve the repo's signing key: ${errorMessage(err)}`, { cause: err })
    }
  }

  /** The signed tree's root, once the commit block is shown to be signed by the repo's current key. */
  async function signedData(body: CommitBody, car: CarBlocks): Promise<CidLike> {
    const commit = signedCommit(body, car)
    const verifies = (key: string) => {
      try {
        return signatures.verify(key, commit.unsigned, commit.sig)
      } catch (err) {
        if (err instanceof DidKeyError) throw new VerifyError(`commit not verified: ${err.message}`, { cause: err })
        throw err
      }
    }
    const cached = await signingKey(body.repo, false)
    if (verifies(cached)) return commit.data
    // the key may have been rotated since it was cached: look once more before refusing the commit
    const fresh = await signingKey(body.repo, true)
    if (fresh !== cached && verifies(fresh)) return commit.data
    throw new VerifyError(`commit not verified: Invalid signature on commit ${body.commit.toString()}`)
  }

  async function commitItems(body: CommitBody): Promise<PipelineItem[]> {
    if (body.tooBig) return tooBigRejects(body)
    let car: CarBlocks
    try {
      car = readCar(body.blocks, { verify: true })
    } catch (err) {
      return commitRejects(body, body.ops, 'car', REASON.carUnreadable(errorMessage(err)))
    }
    try {
      const mst = new PartialMst(car, await signedData(body, car))
      const proven = body.ops.map((op) => proves(mst, op))
      if (body.prevData) undoesToPrevData(mst, body.ops, body.prevData)
      const items = body.ops.map((op, i) => precheckOp(body, op) ?? (proven[i] ? opItem(body, op, car) : opReject(body, op, 'verify', NOT_PROVEN)))
      return [...items, commitPosition(body, car)]
    } catch (err) {
      if (err instanceof VerifyError) return commitRejects(body, body.ops, 'verify', err.message)
      if (err instanceof MstError) return commitRejects(body, body.ops, 'verify', `commit not verified: ${err.message}`)
      throw err
    }
  }

  return asyncDecoder('verified', { commit: commitItems, identity: (body) => identityEvent(body, null), account: accountItem })
}

/** The commit block's fields as signed: the root of the tree, the bytes the signature covers, the signature. */
function signedCommit(body: CommitBody, car: CarBlocks): { data: CidLike; unsigned: Uint8Array; sig: Uint8Array } {
  const block = car.get(body.commit)
  if (!block) throw new VerifyError('commit not verified: the commit block is not in the CAR')
  const commit = readCanonicalCommit(block) ?? genericCommit(block)
  if (commit.did !== body.repo || commit.rev !== body.rev) {
    throw new VerifyError(`commit not verified: the signed commit is ${String(commit.did)} at ${String(commit.rev)}, the frame says ${body.repo} at ${body.rev}`)
  }
  return commit
}

/** A commit block in another form than the canonical one, read by the generic codec and the rest encoded again. */
function genericCommit(block: Uint8Array): Omit<SignedCommitFields, 'did' | 'rev'> & { did: unknown; rev: unknown } {
  let commit: unknown
  try {
    commit = decode(block)
  } catch (err) {
    throw new VerifyError(`commit not verified: the commit block is not DAG-CBOR: ${errorMessage(err)}`)
  }
  const { sig, ...unsigned } = (typeof commit === 'object' && commit !== null ? commit : {}) as Record<string, unknown>
  const data = CID.asCID(unsigned.data)
  if (unsigned.version !== 3 || !data || !(sig instanceof Uint8Array)) {
    throw new VerifyError('commit not verified: the commit block is not a version 3 signed commit')
  }
  return { did: unsigned.did, rev: unsigned.rev, data, unsigned: encode(unsigned as never), sig }
}

/** Whether the signed tree holds what the op says it wrote; a subtree the CAR leaves out proves nothing. */
function proves(mst: PartialMst, op: RepoOpBody): boolean {
  try {
    return sameCid(mst.get(op.path), op.action === 'delete' ? null : op.cid)
  } catch (err) {
    if (err instanceof MstError) return false
    throw err
  }
}

// Sync 1.1's inversion: undoing every op, last first, on the signed tree must give the tree before the commit.
function undoesToPrevData(mst: PartialMst, ops: RepoOpBody[], prevData: CidLike): void {
  for (const op of ops.toReversed()) mst.undo(undoOf(op))
  const root = mst.rootCid()
  if (!sameCid(root, prevData)) {
    throw new VerifyError(`commit not verified: its ops undone give ${CID.decode(root.bytes)}, not its prevData ${CID.decode(prevData.bytes)}`)
  }
}

function undoOf(op: RepoOpBody): Undo {
  if (op.action !== 'create' && !op.prev) throw new MstError(`${op.action} of ${op.path} has no prev: its ops cannot be undone`)
  switch (op.action) {
    case 'create':
      return { key: op.path, from: op.cid, to: null }
    case 'update':
      return { key: op.path, from: op.cid, to: op.prev! }
    case 'delete':
      return { key: op.path, from: null, to: op.prev! }
  }
}
