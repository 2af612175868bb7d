// The bytes a commit's signature covers, cut out of the commit block, must be exactly what encoding the commit
// without its `sig` gives (as @atproto/repo signs and verifies it); a commit in another form is left to that way.
import * as dagCbor from '@ipld/dag-cbor'
import { readCarWithRoot } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { beforeAll, describe, expect, it } from 'vitest'
import { readCanonicalCommit } from '../../../server/pipeline/decoder/signed-commit.js'
import { frameParts, workload } from './workload.js'

let commits: Uint8Array[]

beforeAll(async () => {
  commits = []
  for (const frame of await workload()) {
    const { type, body } = frameParts(frame.bytes)
    if (type !== '#commit') continue
    const car = await readCarWithRoot(body.blocks as Uint8Array)
    commits.push(car.blocks.get(CID.asCID(body.commit)!)!)
  }
})

describe('signed commits in canonical form', () => {
  it('are there to test, with and without a previous commit', () => {
    expect(commits.length).toBeGreaterThan(100)
  })

  it('give the fields @ipld/dag-cbor reads, and as unsigned bytes its encoding of the commit without `sig`', () => {
    for (const block of commits) {
      const { sig, ...unsigned } = dagCbor.decode(block) as { sig: Uint8Array; did: string; rev: string; data: CID }
      const ours = readCanonicalCommit(block)!
      expect({ did: ours.did, rev: ours.rev, data: CID.decode(ours.data.bytes).toString() }).toEqual({ did: unsigned.did, rev: unsigned.rev, data: unsigned.data.toString() })
      expect(Buffer.from(ours.sig).equals(sig)).toBe(true)
      expect(Buffer.from(ours.unsigned).equals(dagCbor.encode(unsigned))).toBe(true)
    }
  })
})

describe('commits in another form', () => {
  const fields = () => dagCbor.decode(commits[0]) as Record<string, unknown>

  it.each([
    ['a version 2 commit', () => dagCbor.encode({ ...fields(), version: 2 })],
    ['a commit with a field more', () => dagCbor.encode({ ...fields(), extra: 1 })],
    [
      'a commit without `prev`',
      () => {
        const { prev: _, ...rest } = fields()
        return dagCbor.encode(rest)
      },
    ],
    ['a commit with a non-ASCII rev', () => dagCbor.encode({ ...fields(), rev: '3lé' })],
    ['trailing bytes', () => Uint8Array.from([...commits[0], 0])],
  ])('leaves %s to the generic codec', (_, bytes) => {
    expect(readCanonicalCommit(bytes())).toBeNull()
  })

  it('reads a commit rebuilt with the same fields exactly as the original', () => {
    expect(readCanonicalCommit(dagCbor.encode(fields()))).not.toBeNull()
  })
})
