// Reads a CAR v1 from a byte stream, one block at a time, so a repository never has to sit whole in memory on
// its way to the block store. Every block is hashed against its CID (sha2-256 only: it is all atproto writes);
// the byte cap is enforced as bytes are pulled, so an oversized CAR stops the download at the cap, not after it.
// A block bigger than `maxBlockBytes` is hashed as it streams past and reported by its size alone: the walk
// turns it into a reject, and memory never holds more than one block of at most that size plus one chunk.
import { createHash, hash } from 'node:crypto'
import { decode } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'
import { RepoCarError } from './repo-car-error.js'

export type CarSection =
  | { kind: 'block'; cid: Uint8Array; bytes: Uint8Array }
  | { kind: 'oversize'; cid: Uint8Array; length: number }

export type CarStreamOptions = {
  maxCarBytes: number
  /** Blocks above this are hashed but not kept. */
  maxBlockBytes: number
  signal?: AbortSignal
}

export type CarStream = {
  roots: CID[]
  /** The blocks in stream order; ends at the end of the stream, throws RepoCarError on a defect. */
  sections: AsyncGenerator<CarSection, void, undefined>
  /** Bytes pulled from the stream so far. */
  bytesRead(): number
}

const SHA2_256 = 0x12
const SHA2_256_LENGTH = 32
const CID_V1 = 1
// A CIDv1 header is four varints; with a 32-byte digest it is 36 bytes. 64 leaves room and bounds the peek.
const MAX_CID_BYTES = 64
// The header holds a version and a root or two: anything near this is not a repo CAR.
const MAX_HEADER_BYTES = 64 * 1024

/** Reads the header; the sections follow lazily from `sections`. */
export async function openCarStream(body: AsyncIterable<Uint8Array>, opts: CarStreamOptions): Promise<CarStream> {
  const input = new PulledBytes(body, opts)
  try {
    const roots = await readHeader(input)
    return { roots, sections: readSections(input, opts), bytesRead: () => input.pulled }
  } catch (err) {
    await input.close()
    throw err
  }
}

async function readHeader(input: PulledBytes): Promise<CID[]> {
  const length = await input.varint('CAR header length')
  if (length === null) throw new RepoCarError('truncated', 'the CAR is empty: no header')
  if (length === 0 || length > MAX_HEADER_BYTES) {
    throw new RepoCarError('malformed', `CAR header length ${length} is not between 1 and ${MAX_HEADER_BYTES} bytes`)
  }
  const bytes = await input.take(length, 'CAR header')
  let header: unknown
  try {
    header = decode(bytes)
  } catch (err) {
    throw new RepoCarError('malformed', `CAR header is not DAG-CBOR: ${(err as Error).message}`)
  }
  const { version, roots } = (typeof header === 'object' && header !== null ? header : {}) as Record<string, unknown>
  if (version !== 1 || !Array.isArray(roots)) throw new RepoCarError('malformed', 'CAR header is not a version 1 header')
  return roots.map((root, i) => {
    const cid = CID.asCID(root)
    if (!cid) throw new RepoCarError('malformed', `CAR header root ${i} is not a CID`)
    return cid
  })
}

async function* readSections(input: PulledBytes, opts: CarStreamOptions): AsyncGenerator<CarSection, void, undefined> {
  try {
    for (;;) {
      const start = input.consumed
      const length = await input.varint('CAR section length')
      if (length === null) return
      if (length === 0) throw new RepoCarError('malformed', `empty CAR section at byte ${start}`)
      const cid = await readCid(input, length, start)
      const blockLength = length - cid.length
      if (blockLength <= opts.maxBlockBytes) {
        const bytes = await input.take(blockLength, `block at byte ${start}`)
        checkDigest(cid, hash('sha256', bytes, 'buffer'), start)
        yield { kind: 'block', cid, bytes }
      } else {
        const hasher = createHash('sha256')
        await input.skip(blockLength, `block at byte ${start}`, (piece) => hasher.update(piece))
        checkDigest(cid, hasher.digest(), start)
        yield { kind: 'oversize', cid, length: blockLength }
      }
    }
  } finally {
    await input.close()
  }
}

// CIDv1 only (atproto never writes v0), hashed with sha2-256 so that the block can be checked.
async function readCid(input: PulledBytes, sectionLength: number, start: number): Promise<Uint8Array> {
  const wanted = Math.min(sectionLength, MAX_CID_BYTES)
  const head = await input.peek(wanted)
  if (head.length < wanted) throw new RepoCarError('truncated', `the CAR ends inside the CID of the block at byte ${start}`)
  const reader = new VarintReader(head)
  const version = reader.next()
  reader.next() // codec: the store keeps any
  const hashCode = reader.next()
  const digestLength = reader.next()
  if (version !== CID_V1) throw new RepoCarError('malformed', `block at byte ${start} has CID version ${version}, expected 1`)
  if (hashCode !== SHA2_256 || digestLength !== SHA2_256_LENGTH) {
    throw new RepoCarError(
      'bad-block',
      `block at byte ${start} is hashed with multihash 0x${hashCode?.toString(16)}/${digestLength}, expected sha2-256`,
    )
  }
  const cidLength = reader.pos + digestLength
  if (cidLength > head.length) throw new RepoCarError('malformed', `CID of the block at byte ${start} runs past its section`)
  return input.take(cidLength, `CID at byte ${start}`)
}

function checkDigest(cid: Uint8Array, digest: Buffer, start: number): void {
  if (!digest.equals(cid.subarray(cid.length - SHA2_256_LENGTH))) {
    throw new RepoCarError('bad-block', `block at byte ${start} does not hash to its CID ${CID.decode(cid).toString()}`)
  }
}

/** Unsigned LEB128 over bytes already in hand; null where they run out. */
class VarintReader {
  pos = 0
  constructor(private readonly bytes: Uint8Array) {}

  next(): number | null {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8 && this.pos < this.bytes.length; i++) {
      const byte = this.bytes[this.pos++]
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 0x80
    }
    return null
  }
}

/**
 * The stream as a queue of chunks, pulled only when a read needs more than is queued. Counts every byte
 * pulled against the CAR cap and checks the abort signal on every pull.
 */
class PulledBytes {
  pulled = 0
  consumed = 0
  private readonly chunks: Uint8Array[] = []
  private head = 0 // offset into chunks[0]
  private queued = 0
  private readonly source: AsyncIterator<Uint8Array>
  private ended = false

  constructor(
    body: AsyncIterable<Uint8Array>,
    private readonly opts: CarStreamOptions,
  ) {
    this.source = body[Symbol.asyncIterator]()
  }

  /** Pulls until `n` bytes are queued; false if the stream ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.queued < n) {
      if (this.ended) return false
      this.opts.signal?.throwIfAborted()
      const next = await this.source.next()
      if (next.done) {
        this.ended = true
        return false
      }
      const chunk = next.value
      this.pulled += chunk.length
      if (this.pulled > this.opts.maxCarBytes) {
        const cap = this.opts.maxCarBytes
        throw new RepoCarError('too-large', `CAR is over the ${cap}-byte cap (stopped after ${this.pulled} bytes)`)
      }
      if (chunk.length > 0) {
        this.chunks.push(chunk)
        this.queued += chunk.length
      }
    }
    return true
  }

  /** A varint, or null when the stream ends cleanly before its first byte. */
  async varint(what: string): Promise<number | null> {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (!(await this.fill(i + 1))) {
        if (i === 0) return null
        throw new RepoCarError('truncated', `the CAR ends inside the ${what} at byte ${this.consumed + i}`)
      }
      const byte = this.byteAt(i)
      value += (byte & 0x7f) * scale
      if (byte < 0x80) {
        this.drop(i + 1)
        return value
      }
      scale *= 0x80
    }
    throw new RepoCarError('malformed', `the ${what} at byte ${this.consumed} is a varint longer than 8 bytes`)
  }

  /** Up to `n` bytes without consuming them (fewer if the stream ends). */
  async peek(n: number): Promise<Uint8Array> {
    await this.fill(n)
    return this.copyOut(Math.min(n, this.queued), false)
  }

  async take(n: number, what: string): Promise<Uint8Array> {
    if (!(await this.fill(n))) {
      throw new RepoCarError('truncated', `the CAR ends inside the ${what}: ${n} bytes declared, ${this.queued} left`)
    }
    return this.copyOut(n, true)
  }

  /** Consumes `n` bytes piece by piece, never queueing more than one pulled chunk. */
  async skip(n: number, what: string, onPiece: (piece: Uint8Array) => void): Promise<void> {
    let left = n
    while (left > 0) {
      if (!(await this.fill(1))) {
        throw new RepoCarError('truncated', `the CAR ends inside the ${what}: ${left} of ${n} bytes missing`)
      }
      const first = this.chunks[0]
      const piece = first.subarray(this.head, this.head + Math.min(left, first.length - this.head))
      onPiece(piece)
      this.drop(piece.length)
      left -= piece.length
    }
  }

  async close(): Promise<void> {
    this.chunks.length = 0
    this.queued = 0
    if (!this.ended) {
      this.ended = true
      await this.source.return?.()
    }
  }

  private byteAt(i: number): number {
    let index = this.head + i
    for (const chunk of this.chunks) {
      if (index < chunk.length) return chunk[index]
      index -= chunk.length
    }
    throw new RangeError(`byte ${i} is not queued`)
  }

  // Within one chunk the bytes are a view; across chunks, one copy.
  private copyOut(n: number, consume: boolean): Uint8Array {
    const first = this.chunks[0]
    let out: Uint8Array
    if (n === 0) out = new Uint8Array(0)
    else if (first.length - this.head >= n) out = first.subarray(this.head, this.head + n)
    else {
      out = new Uint8Array(n)
      let written = 0
      let offset = this.head
      for (const chunk of this.chunks) {
        const piece = chunk.subarray(offset, offset + Math.min(n - written, chunk.length - offset))
        out.set(piece, written)
        written += piece.length
        offset = 0
        if (written === n) break
      }
    }
    if (consume) this.drop(n)
    return out
  }

  private drop(n: number): void {
    this.consumed += n
    this.queued -= n
    let left = n
    while (left > 0) {
      const available = this.chunks[0].length - this.head
      if (left < available) {
        this.head += left
        return
      }
      left -= available
      this.chunks.shift()
      this.head = 0
    }
  }
}
