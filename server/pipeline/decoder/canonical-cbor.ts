// Reading DAG-CBOR in its one canonical form only (shortest heads, links as tag 42 over 0x00 and a CIDv1 with a
// 32-byte SHA-256 digest), for the fixed shapes we read on every commit: MST nodes and signed commits. A reader
// answers null at anything else, and its caller leaves that block to the generic codec, so that both read the same
// values from the same bytes.
import type { CidLike } from './car.js'

export const MAJOR_UINT = 0
export const MAJOR_BYTES = 2
export const MAJOR_TEXT = 3
export const MAJOR_ARRAY = 4
export const MAJOR_MAP = 5
export const NULL = 0xf6
export const TAG_CID = [0xd8, 0x2a] as const
export const CID_V1 = 1
export const SHA2_256 = 0x12
export const DIGEST_LENGTH = 32
/** 0x01, a one-byte codec, 0x12, 0x20, then the digest. */
export const CID_LENGTH = 4 + DIGEST_LENGTH

/** A map key as encoded: its text head, then its bytes (keys here are short ASCII names). */
export function textKey(name: string): Uint8Array {
  return Uint8Array.of((MAJOR_TEXT << 5) | name.length, ...Buffer.from(name, 'latin1'))
}

/** Reads values in their one canonical DAG-CBOR form; every read answers null (or undefined) at anything else. */
export class CanonicalReader {
  private i = 0

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.i === this.bytes.length
  }

  byte(): number {
    return this.i < this.bytes.length ? this.bytes[this.i++] : -1
  }

  /** Whether the next bytes are `encoded` (a map key, head included), consuming them if so. */
  key(encoded: Uint8Array): boolean {
    if (this.bytes.length - this.i < encoded.length) return false
    for (let j = 0; j < encoded.length; j++) if (this.bytes[this.i + j] !== encoded[j]) return false
    this.i += encoded.length
    return true
  }

  get pos(): number {
    return this.i
  }

  /** The argument of a head of `major` type in its shortest form (as strict DAG-CBOR requires), or null. */
  head(major: number): number | null {
    const first = this.byte()
    if (first >> 5 !== major) return null
    const info = first & 0x1f
    if (info < 24) return info
    if (info === 24) {
      const n = this.byte()
      return n >= 24 ? n : null
    }
    if (info === 25) {
      const hi = this.byte()
      const lo = this.byte()
      if (hi < 0 || lo < 0) return null
      const n = (hi << 8) | lo
      return n >= 0x100 ? n : null
    }
    return null
  }

  /** A text string of ASCII only (DIDs, TIDs): anything else is left to the generic codec's UTF-8 rules. */
  ascii(): string | null {
    const length = this.head(MAJOR_TEXT)
    const bytes = length === null ? null : this.take(length)
    if (bytes === null || bytes.some((b) => b >= 0x80)) return null
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
  }

  take(length: number): Uint8Array | null {
    if (length > this.bytes.length - this.i) return null
    const out = this.bytes.subarray(this.i, this.i + length)
    this.i += length
    return out
  }

  /** A link, null for a CBOR null, undefined when neither is there in canonical form. */
  linkOrNull(): CidLike | null | undefined {
    if (this.bytes[this.i] === NULL) {
      this.i++
      return null
    }
    if (this.byte() !== TAG_CID[0] || this.byte() !== TAG_CID[1] || this.head(MAJOR_BYTES) !== CID_LENGTH + 1) return undefined
    const body = this.take(CID_LENGTH + 1)
    if (body === null || body[0] !== 0 || body[1] !== CID_V1 || body[2] >= 0x80 || body[3] !== SHA2_256 || body[4] !== DIGEST_LENGTH) return undefined
    return { bytes: body.subarray(1) }
  }
}
