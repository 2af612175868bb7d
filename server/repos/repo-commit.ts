// The root of a repository CAR: the signed commit that names the MST. Everything the walk emits is only as
// trustworthy as this block, so it is checked before any record is read: its shape, that it is the DID's repo,
// and, when the DID's key is known, its signature (verified as @atproto/repo does, over the commit minus `sig`).
import { decode } from '@atproto/lex-cbor'
import { type Commit, verifyCommitSig } from '@atproto/repo'
import { isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { RepoCarError } from './repo-car-error.js'

export type RepoCommit = {
  did: string
  rev: string
  /** The MST root. */
  dataCid: string
  version: 2 | 3
  prev: string | null
}

/** The commit with its MST root as a CID, for the walk. */
export type ParsedCommit = { commit: RepoCommit; data: CID; signed: Commit }

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
  const { did, version, data, rev, prev, sig } = value as Record<string, unknown>
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
    signed: value as Commit,
  }
}

/** `didKey` is the did:key of the DID's #atproto verification method. */
export async function verifyCommit(parsed: ParsedCommit, didKey: string): Promise<void> {
  let valid: boolean
  try {
    valid = await verifyCommitSig(parsed.signed, didKey)
  } catch (err) {
    throw new RepoCarError('bad-signature', `cannot check the commit signature with ${didKey}: ${(err as Error).message}`)
  }
  if (!valid) {
    const { did, rev } = parsed.commit
    throw new RepoCarError('bad-signature', `the commit of ${did} at rev ${rev} is not signed by ${didKey}`)
  }
}
