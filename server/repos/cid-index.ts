// Block numbers by sha2-256 digest, in typed arrays: a repository of a million blocks costs ~50 MB as a Map of
// CID strings, on the JS heap where every GC traverses it; here it is ~40 bytes a block off the heap and no
// garbage per lookup. Keyed by the digest alone because the CAR reader admits only sha2-256 blocks and equal
// digests mean equal bytes, whatever codec a CID names.
// Open addressing with linear probing. Digests are hashes, but a CAR's author can grind them: slots are picked
// by a keyed mix of two digest words under per-index random multipliers, so colliding on purpose would take
// 64-bit collisions, not the table's 20 bits.
import { randomInt } from 'node:crypto'

const DIGEST_BYTES = 32
const SHA2_256 = 0x12
const INITIAL_BLOCKS = 1024

/** The sha2-256 digest inside a CIDv1's bytes, or null for any other CID. */
export function sha256Digest(cid: Uint8Array): Uint8Array | null {
  if (cid.length < 4 + DIGEST_BYTES || cid[0] !== 1) return null
  let at = 1
  while (at < cid.length && cid[at] >= 0x80) at++ // the codec varint
  at++
  if (cid[at] !== SHA2_256 || cid[at + 1] !== DIGEST_BYTES || cid.length !== at + 2 + DIGEST_BYTES) return null
  return cid.subarray(at + 2)
}

export class CidIndex {
  private digests = Buffer.alloc(INITIAL_BLOCKS * DIGEST_BYTES)
  private table = new Int32Array(INITIAL_BLOCKS * 2) // block number + 1; 0 is empty
  private count = 0
  private shift = 32 - Math.log2(INITIAL_BLOCKS * 2)
  private readonly mixA = randomInt(1, 2 ** 31) * 2 + 1
  private readonly mixB = randomInt(1, 2 ** 31) * 2 + 1

  get size(): number {
    return this.count
  }

  /** The block number of `digest`, or -1. */
  find(digest: Uint8Array): number {
    const mask = this.table.length - 1
    for (let slot = this.slotOf(digest); ; slot = (slot + 1) & mask) {
      const entry = this.table[slot]
      if (entry === 0) return -1
      if (this.matches(entry - 1, digest)) return entry - 1
    }
  }

  /** Adds `digest` as the next block number and returns it; -1 if it is already in. */
  add(digest: Uint8Array): number {
    if (this.find(digest) !== -1) return -1
    if ((this.count + 1) * 2 > this.table.length) this.grow()
    const block = this.count++
    this.digests.set(digest, block * DIGEST_BYTES)
    this.place(block)
    return block
  }

  private place(block: number): void {
    const mask = this.table.length - 1
    let slot = this.slotOf(this.digests.subarray(block * DIGEST_BYTES, (block + 1) * DIGEST_BYTES))
    while (this.table[slot] !== 0) slot = (slot + 1) & mask
    this.table[slot] = block + 1
  }

  private grow(): void {
    const digests = Buffer.alloc(this.digests.length * 2)
    this.digests.copy(digests)
    this.digests = digests
    this.table = new Int32Array(this.table.length * 2)
    this.shift--
    for (let block = 0; block < this.count; block++) this.place(block)
  }

  // High bits of the products depend on every bit of both words.
  private slotOf(digest: Uint8Array): number {
    const a = (digest[0] | (digest[1] << 8) | (digest[2] << 16) | (digest[3] << 24)) >>> 0
    const b = (digest[4] | (digest[5] << 8) | (digest[6] << 16) | (digest[7] << 24)) >>> 0
    const mixed = (Math.imul(a, this.mixA) ^ Math.imul(b, this.mixB)) >>> 0
    return mixed >>> this.shift
  }

  private matches(block: number, digest: Uint8Array): boolean {
    const base = block * DIGEST_BYTES
    for (let i = 0; i < DIGEST_BYTES; i++) if (this.digests[base + i] !== digest[i]) return false
    return true
  }
}
