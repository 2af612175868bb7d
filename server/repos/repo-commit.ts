// The root of a repository CAR: the signed commit that names the MST. Everything the walk emits is only as
// trustworthy as this block, so it is checked before any record is read: its shape, that it is the DID's repo,
// and, when the DID's key is known, its signature over the commit minus `sig`, by the same SignatureVerifier (and
// so the same rules: low-S only) as the firehose's verified decoder.
import { decode, encode } from '@atproto/lex-cbor'
import { isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { DidKeyError, type SignatureVerifier } from '../pipeline/decoder/signature.js'
import { RepoCarError } from './repo-car-error.js'

export type RepoCommit = {
  did: string
  rev: string
  /** The MST root. */
  dataCid: string
  version: 2 | 3
  prev: string | null
}

/** The commit with its MST root as a CID, for the walk; `unsigned` is the commit's fields but `sig`. */
export type ParsedCommit = { commit: RepoCommit; data: CID; unsigned: Record<string, unknown>; sig: Uint8Array }

export function parseCommit(bytes: Uint8Array, expectedDid: string): ParsedCommit {
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    throw new RepoCarError('not-a-commit', `the root block is not DAG-CBOR: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RepoCarError('not-a-commit', 'the root block is not a map')
  }
  const { sig, ...unsigned } = value as Record<string, unknown>
  const { did, version, data, rev, prev } = unsigned
  if (typeof did !== 'string') throw new RepoCarError('not-a-commit', 'the root block has no string `did`')
  if (version !== 3 && version !== 2) {
    throw new RepoCarError('not-a-commit', `commit version is ${String(version)}, expected 3 (or 2)`)
  }
  const dataCid = CID.asCID(data)
  if (!dataCid) throw new RepoCarError('not-a-commit', 'commit `data` is not a CID')
  // A version 2 commit may lack a rev; without one its records could not be ordered against later ops.
  if (typeof rev !== 'string' || !isValidTid(rev)) {
    throw new RepoCarError('not-a-commit', `commit rev ${JSON.stringify(rev)} is not a TID`)
  }
  const prevCid = prev === null || prev === undefined ? null : CID.asCID(prev)
  if (prevCid === null && prev !== null && prev !== undefined) {
    throw new RepoCarError('not-a-commit', 'commit `prev` is not a CID or null')
  }
  if (!(sig instanceof Uint8Array)) throw new RepoCarError('not-a-commit', 'commit has no `sig` bytes')
  if (did !== expectedDid) throw new RepoCarError('wrong-did', `the commit is for ${did}, expected ${expectedDid}`)
  return {
    commit: { did, rev, dataCid: dataCid.toString(), version, prev: prevCid?.toString() ?? null },
    data: dataCid,
    unsigned,
    sig,
  }
}

/** `didKey` is the did:key of the DID's #atproto verification method. */
export function verifyCommit(parsed: ParsedCommit, didKey: string, signatures: SignatureVerifier): void {
  let valid: boolean
  try {
    valid = signatures.verify(didKey, encode(parsed.unsigned as never), parsed.sig)
  } catch (err) {
    if (!(err instanceof DidKeyError)) throw err
    throw new RepoCarError('bad-signature', `cannot check the commit signature with ${didKey}: ${err.message}`)
  }
  if (!valid) {
    const { did, rev } = parsed.commit
    throw new RepoCarError('bad-signature', `the commit of ${did} at rev ${rev} is not signed by ${didKey}`)
  }
}
