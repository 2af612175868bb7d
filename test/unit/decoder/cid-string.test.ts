import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { cidString } from '../../../server/pipeline/decoder/cid-string.js'

function digestOf(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let x = seed * 2654435761
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

describe('a CID as a string', () => {
  it('is what multiformats writes, for dag-cbor and raw CIDs of every digest length up to 64 bytes', () => {
    for (const codec of [0x71, 0x55]) {
      for (let length = 0; length <= 64; length++) {
        for (let seed = 0; seed < 20; seed++) {
          const cid = CID.createV1(codec, createDigest(0x12, digestOf(seed + length * 100, length)))
          expect(cidString(cid)).toBe(cid.toString())
        }
      }
    }
  })

  it('of a CIDv0 is its base58btc form, as multiformats writes it', () => {
    const cid = CID.createV0(createDigest(0x12, digestOf(7, 32)))
    expect(cidString(cid)).toBe(cid.toString())
    expect(cidString(cid)).toMatch(/^Qm/)
  })
})
