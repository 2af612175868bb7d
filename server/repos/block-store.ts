// Where a repository's blocks wait while its MST is walked: a walk needs random access to every block, and a CAR
// arrives in no useful order. Small CARs stay in memory; once the blocks pass `spillAboveBytes` they all move to
// a temp file and memory keeps only an index (digest → offset and length), about 60 bytes a block, off the heap.
// Reads from the file are synchronous: the file was written moments before and is read from the page cache in
// microseconds, where a thread-pool round trip per block made a walk three times slower (MST nodes are read one
// after another). A walk's chunk size bounds how many reads happen in one turn of the event loop.
// The file has no name once open (see SpillFile): close() frees it, and so does the end of the process, however it ends.
import { randomUUID } from 'node:crypto'
import { readSync } from 'node:fs'
import { type FileHandle, open, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { CarSection } from './car-stream.js'
import { CidIndex, sha256Digest } from './cid-index.js'

export type StoredBlock = { kind: 'block'; bytes: Uint8Array } | { kind: 'oversize'; length: number }

export type BlockStoreOptions = { spillDir: string; spillAboveBytes: number }

const WRITE_BUFFER_BYTES = 1024 * 1024
const NOT_IN_FILE = -1

export class BlockStore {
  private readonly index = new CidIndex()
  private lengths = new Float64Array(1024)
  /** NOT_IN_FILE for blocks in memory and for oversize blocks, which have no bytes. */
  private offsets = new Float64Array(1024)
  private memory: (Uint8Array | null)[] | null = []
  private bytesHeld = 0
  private spill: SpillFile | null = null

  constructor(private readonly opts: BlockStoreOptions) {}

  get blockCount(): number {
    return this.index.size
  }

  get spilled(): boolean {
    return this.spill !== null
  }

  /** A block seen twice (a CAR may repeat one) is kept once. */
  async put(section: CarSection): Promise<void> {
    const block = this.index.add(sha256Digest(section.cid)!)
    if (block === -1) return
    if (block === this.lengths.length) this.growColumns()
    this.offsets[block] = NOT_IN_FILE
    if (section.kind === 'oversize') {
      this.lengths[block] = section.length
      this.memory?.push(null)
      return
    }
    this.lengths[block] = section.bytes.length
    if (this.spill) {
      this.offsets[block] = await this.spill.append(section.bytes)
      return
    }
    this.memory!.push(section.bytes)
    this.bytesHeld += section.bytes.length
    if (this.bytesHeld > this.opts.spillAboveBytes) await this.moveToFile()
  }

  /** Call once every block is in, before the first get. */
  async finish(): Promise<void> {
    await this.spill?.flush()
  }

  has(cid: Uint8Array): boolean {
    return this.blockOf(cid) !== -1
  }

  get(cid: Uint8Array): StoredBlock | undefined {
    const block = this.blockOf(cid)
    if (block === -1) return undefined
    const inMemory = this.memory?.[block]
    if (inMemory) return { kind: 'block', bytes: inMemory }
    const offset = this.offsets[block]
    const length = this.lengths[block]
    if (offset === NOT_IN_FILE) return { kind: 'oversize', length }
    return { kind: 'block', bytes: this.spill!.read(offset, length) }
  }

  async close(): Promise<void> {
    this.memory = null
    await this.spill?.remove()
  }

  private blockOf(cid: Uint8Array): number {
    const digest = sha256Digest(cid)
    return digest ? this.index.find(digest) : -1
  }

  private growColumns(): void {
    for (const column of ['lengths', 'offsets'] as const) {
      const grown = new Float64Array(this[column].length * 2)
      grown.set(this[column])
      this[column] = grown
    }
  }

  private async moveToFile(): Promise<void> {
    const spill = await SpillFile.create(this.opts.spillDir)
    this.spill = spill
    const memory = this.memory!
    this.memory = null
    for (let block = 0; block < memory.length; block++) {
      const bytes = memory[block]
      if (bytes) this.offsets[block] = await spill.append(bytes)
    }
    this.bytesHeld = 0
  }
}

/**
 * An append-only temp file with buffered writes and positioned reads. Its name is unlinked as soon as it is open:
 * the kernel frees the blocks when the descriptor closes, so a process killed mid-walk (SIGKILL, OOM) leaves no file
 * behind and nothing has to sweep the shared temp folder, which other instances on the machine also use.
 */
class SpillFile {
  private size = 0
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES)
  private buffered = 0
  private removed = false

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(dir: string): Promise<SpillFile> {
    const file = path.join(dir, `skyfill-repo-${randomUUID()}.blocks`)
    const handle = await open(file, 'wx+', 0o600)
    try {
      await unlink(file)
    } catch (err) {
      await handle.close()
      throw new Error(`spill file ${file}: cannot unlink it after creating it: ${(err as Error).message}`)
    }
    return new SpillFile(file, handle)
  }

  /** Returns the block's offset in the file. */
  async append(bytes: Uint8Array): Promise<number> {
    if (bytes.length > this.buffer.length - this.buffered) await this.flush()
    const offset = this.size + this.buffered
    if (bytes.length > this.buffer.length) {
      await this.handle.write(bytes, 0, bytes.length, this.size)
      this.size += bytes.length
    } else {
      this.buffer.set(bytes, this.buffered)
      this.buffered += bytes.length
    }
    return offset
  }

  async flush(): Promise<void> {
    if (this.buffered === 0) return
    await this.handle.write(this.buffer, 0, this.buffered, this.size)
    this.size += this.buffered
    this.buffered = 0
  }

  read(offset: number, length: number): Uint8Array {
    const out = Buffer.allocUnsafe(length)
    const bytesRead = readSync(this.handle.fd, out, 0, length, offset)
    if (bytesRead !== length) throw new Error(`spill file ${this.file}: read ${bytesRead} of ${length} bytes at ${offset}`)
    return out
  }

  async remove(): Promise<void> {
    if (this.removed) return
    this.removed = true
    await this.handle.close()
  }
}
