import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CidIndex, sha256Digest } from '../../../server/repos/cid-index.js'
import { cborBlock } from '../../support/repo-car-builder.js'

const digest = (i: number) => createHash('sha256').update(`block ${i}`).digest()

describe('CidIndex', () => {
  it('numbers digests in the order they are added and finds each again as the table grows', () => {
    const index = new CidIndex()
    for (let i = 0; i < 5000; i++) expect(index.add(digest(i))).toBe(i)
    expect(index.size).toBe(5000)
    for (let i = 0; i < 5000; i++) expect(index.find(digest(i))).toBe(i)
    expect(index.find(digest(5000))).toBe(-1)
  })

  it('refuses a digest it already holds', () => {
    const index = new CidIndex()
    index.add(digest(1))
    expect(index.add(digest(1))).toBe(-1)
    expect(index.size).toBe(1)
  })
})

describe('sha256Digest', () => {
  it('is the last 32 bytes of a sha2-256 CIDv1, null for anything else', () => {
    const { cid, bytes } = cborBlock({ a: 1 })
    expect(Buffer.from(sha256Digest(cid.bytes)!)).toEqual(createHash('sha256').update(bytes).digest())
    expect(sha256Digest(cid.bytes.subarray(0, 20))).toBeNull()
    const sha512 = Uint8Array.from([1, 0x71, 0x13, 0x40, ...new Uint8Array(64)])
    expect(sha256Digest(sha512)).toBeNull()
  })
})
