// The commit block of a #commit frame, split into the bytes its signature covers and the signature. The generic way
// (decode the block, drop `sig`, encode the rest) cost as much as all the MST work of a verified decode; a version 3
// commit in canonical form holds the unsigned commit's encoding already, less the map's size and the `sig` entry.
import { MAJOR_BYTES, MAJOR_MAP, CanonicalReader, textKey } from './canonical-cbor.js'
import type { CidLike } from './car.js'

export type SignedCommitFields = { did: string; rev: string; data: CidLike; sig: Uint8Array; unsigned: Uint8Array }

// DAG-CBOR's key order: shorter keys first, then bytewise.
const [DID, REV, SIG, DATA, PREV, VERSION] = ['did', 'rev', 'sig', 'data', 'prev', 'version'].map(textKey)
const COMMIT_VERSION = 3

/** The commit's fields, or null when `block` is not a version 3 commit in canonical form (the generic codec then decides). */
export function readCanonicalCommit(block: Uint8Array): SignedCommitFields | null {
  const r = new CanonicalReader(block)
  if (r.byte() !== ((MAJOR_MAP << 5) | 6) || !r.key(DID)) return null
  const did = r.ascii()
  if (did === null || !r.key(REV)) return null
  const rev = r.ascii()
  if (rev === null) return null
  const sigStart = r.pos
  if (!r.key(SIG)) return null
  const sigLength = r.head(MAJOR_BYTES)
  const sig = sigLength === null ? null : r.take(sigLength)
  if (sig === null) return null
  const sigEnd = r.pos
  if (!r.key(DATA)) return null
  const data = r.linkOrNull()
  if (!data || !r.key(PREV) || r.linkOrNull() === undefined) return null
  if (!r.key(VERSION) || r.byte() !== COMMIT_VERSION || !r.done) return null
  // the same map without its `sig` entry: one entry fewer in the head, and the bytes either side of the entry
  const unsigned = new Uint8Array(block.length - (sigEnd - sigStart))
  unsigned[0] = (MAJOR_MAP << 5) | 5
  unsigned.set(block.subarray(1, sigStart), 1)
  unsigned.set(block.subarray(sigEnd), sigStart)
  return { did, rev, data, sig, unsigned }
}
