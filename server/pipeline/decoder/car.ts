// A synchronous CAR v1 reader for the small CAR diffs carried by #commit frames. @atproto/repo's reader is
// async and yields to the event loop every 25 blocks, which dominates the cost of decoding a commit.
// Every length read from the input is checked against the bytes that remain before anything is sliced, so
// hostile input fails fast with a CarError instead of allocating or looping on a forged size.
import { hash } from 'node:crypto'
import { decode } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'

export type CarErrorCode = 'truncated' | 'varint' | 'header' | 'cid' | 'hash'

export class CarError extends Error {
  override readonly name = 'CarError'
  constructor(
    readonly code: CarErrorCode,
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`)
  }
}

/** Blocks of a CAR, looked up by CID bytes rather than by CID string to avoid base32-encoding every block. */
export class CarBlocks {
  constructor(
    private readonly blocks: Map<string, Uint8Array>,
    /** The header's roots: a #commit's or #sync's CAR names its commit block there. */
    readonly roots: readonly CidLike[],
  ) {}

  get size(): number {
    return this.blocks.size
  }

  get(cid: CidLike): Uint8Array | undefined {
    return this.blocks.get(bytesKey(cid.bytes))
  }
}

export type CidLike = { bytes: Uint8Array }

export type ReadCarOptions = {
  /** Check each block's sha2-256 digest against its CID; blocks hashed any other way are then rejected. */
  verify: boolean
}

const SHA2_256 = 0x12
const SHA2_256_LENGTH = 32

export function readCar(bytes: Uint8Array, opts: ReadCarOptions): CarBlocks {
  const reader = new Reader(bytes)
  const headerLength = reader.varint()
  const headerStart = reader.pos
  if (headerLength === 0) throw new CarError('header', 'empty CAR header', headerStart)
  const roots = readHeader(reader.take(headerLength, 'CAR header'), headerStart)

  const blocks = new Map<string, Uint8Array>()
  while (!reader.done) {
    const sectionStart = reader.pos
    const section = reader.take(reader.varint(), 'CAR section')
    const cidLength = cidByteLength(section, sectionStart)
    const cidBytes = section.subarray(0, cidLength)
    const block = section.subarray(cidLength)
    if (opts.verify) verifyBlock(cidBytes, block, sectionStart)
    blocks.set(bytesKey(cidBytes), block)
  }
  return new CarBlocks(blocks, roots)
}

function readHeader(headerBytes: Uint8Array, offset: number): CidLike[] {
  let header: unknown
  try {
    header = decode(headerBytes)
  } catch (err) {
    throw new CarError('header', `CAR header is not DAG-CBOR: ${(err as Error).message}`, offset)
  }
  const { version, roots } = (typeof header === 'object' && header !== null ? header : {}) as Record<string, unknown>
  if (version !== 1 || !Array.isArray(roots)) throw new CarError('header', 'CAR header is not a version 1 header', offset)
  // lex-cbor decodes CIDs with its own copy of multiformats: anything with CID bytes will do for a lookup
  if (!roots.every((r) => CID.asCID(r) !== null)) throw new CarError('header', 'CAR header roots are not CIDs', offset)
  return roots as CidLike[]
}

// CIDv1 only: atproto never writes CIDv0, and accepting it would need a second parsing path for no real input.
function cidByteLength(section: Uint8Array, offset: number): number {
  const reader = new Reader(section, offset)
  const version = reader.varint()
  if (version !== 1) throw new CarError('cid', `unsupported CID version ${version}`, offset)
  reader.varint() // codec: any is acceptable for storage
  reader.varint() // multihash code: checked only when verifying
  const digestLength = reader.varint()
  reader.take(digestLength, 'CID digest')
  return reader.pos - offset
}

function verifyBlock(cidBytes: Uint8Array, block: Uint8Array, offset: number): void {
  const reader = new Reader(cidBytes, offset)
  reader.varint()
  reader.varint()
  const hashCode = reader.varint()
  const digestLength = reader.varint()
  if (hashCode !== SHA2_256 || digestLength !== SHA2_256_LENGTH) {
    throw new CarError('hash', `cannot verify multihash 0x${hashCode.toString(16)}/${digestLength}`, offset)
  }
  const expected = cidBytes.subarray(reader.pos - offset)
  const actual = hash('sha256', block, 'buffer')
  if (!actual.equals(expected)) throw new CarError('hash', 'block does not match its CID', offset)
}

function bytesKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** A cursor over bytes; `base` is where `bytes` starts in the whole CAR, so error offsets stay absolute. */
class Reader {
  private index = 0

  constructor(
    private readonly bytes: Uint8Array,
    private readonly base = 0,
  ) {}

  get pos(): number {
    return this.base + this.index
  }

  get done(): boolean {
    return this.index >= this.bytes.length
  }

  // Unsigned LEB128, capped at 7 bytes (49 bits) so the value stays an exact JS number.
  varint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 7; i++) {
      if (this.index >= this.bytes.length) throw new CarError('truncated', 'varint runs past the end', this.pos)
      const byte = this.bytes[this.index++]
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 0x80
    }
    throw new CarError('varint', 'varint longer than 7 bytes', this.pos)
  }

  take(length: number, what: string): Uint8Array {
    const remaining = this.bytes.length - this.index
    if (length > remaining) {
      throw new CarError('truncated', `${what} declares ${length} bytes but only ${remaining} remain`, this.pos)
    }
    const out = this.bytes.subarray(this.index, this.index + length)
    this.index += length
    return out
  }
}
