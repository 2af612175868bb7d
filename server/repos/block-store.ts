// Where a repository's blocks wait while its MST is walked: a walk needs random access to every block, and a CAR
// arrives in no useful order. Small CARs stay in memory; once the blocks pass `spillAboveBytes` they all move to
// a temp file and memory keeps only an index (CID bytes → offset and length), about 100 bytes a block.
// The file is removed by close(), and by an exit hook if the process ends first.
import { randomUUID } from 'node:crypto'
import { unlinkSync } from 'node:fs'
import { type FileHandle, open, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { CarSection } from './car-stream.js'

export type StoredBlock = { kind: 'block'; bytes: Uint8Array } | { kind: 'oversize'; length: number }

export type BlockStoreOptions = { spillDir: string; spillAboveBytes: number }

const WRITE_BUFFER_BYTES = 1024 * 1024

export class BlockStore {
  private readonly slots = new Map<string, number>()
  private readonly lengths: number[] = []
  /** Oversize blocks have no offset (-1) and no bytes. */
  private readonly offsets: number[] = []
  private memory: (Uint8Array | null)[] | null = []
  private bytesHeld = 0
  private spill: SpillFile | null = null

  constructor(private readonly opts: BlockStoreOptions) {}

  get blockCount(): number {
    return this.slots.size
  }

  get spilled(): boolean {
    return this.spill !== null
  }

  /** A block seen twice (a CAR may repeat one) is kept once. */
  async put(section: CarSection): Promise<void> {
    const key = cidKey(section.cid)
    if (this.slots.has(key)) return
    const slot = this.lengths.length
    this.slots.set(key, slot)
    if (section.kind === 'oversize') {
      this.lengths.push(section.length)
      this.offsets.push(-1)
      this.memory?.push(null)
      return
    }
    this.lengths.push(section.bytes.length)
    if (this.spill) {
      this.offsets.push(await this.spill.append(section.bytes))
      return
    }
    this.offsets.push(-1)
    this.memory!.push(section.bytes)
    this.bytesHeld += section.bytes.length
    if (this.bytesHeld > this.opts.spillAboveBytes) await this.moveToFile()
  }

  /** Call once every block is in, before the first get. */
  async finish(): Promise<void> {
    await this.spill?.flush()
  }

  has(cid: Uint8Array): boolean {
    return this.slots.has(cidKey(cid))
  }

  async get(cid: Uint8Array): Promise<StoredBlock | undefined> {
    const slot = this.slots.get(cidKey(cid))
    if (slot === undefined) return undefined
    const length = this.lengths[slot]
    const offset = this.offsets[slot]
    const inMemory = this.memory?.[slot]
    if (inMemory) return { kind: 'block', bytes: inMemory }
    if (offset < 0) return { kind: 'oversize', length }
    return { kind: 'block', bytes: await this.spill!.read(offset, length) }
  }

  async close(): Promise<void> {
    this.memory = null
    this.slots.clear()
    await this.spill?.remove()
  }

  private async moveToFile(): Promise<void> {
    const spill = await SpillFile.create(this.opts.spillDir)
    this.spill = spill
    const memory = this.memory!
    this.memory = null
    for (let slot = 0; slot < memory.length; slot++) {
      const bytes = memory[slot]
      if (bytes) this.offsets[slot] = await spill.append(bytes)
    }
    this.bytesHeld = 0
  }
}

// Latin-1 keeps one char per byte: a cheap, exact Map key for CID bytes.
function cidKey(cid: Uint8Array): string {
  return Buffer.from(cid.buffer, cid.byteOffset, cid.byteLength).toString('latin1')
}

const liveSpillFiles = new Set<string>()
let exitHookInstalled = false

function guardAtExit(file: string): void {
  liveSpillFiles.add(file)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const live of liveSpillFiles) {
      try {
        unlinkSync(live)
      } catch {
        // already gone
      }
    }
  })
}

/** An append-only temp file with buffered writes and positioned reads. */
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
    guardAtExit(file)
    return new SpillFile(file, handle)
  }

  /** Returns the block's offset in the file. */
  async append(bytes: Uint8Array): Promise<number> {
    const offset = this.size + this.buffered
    if (bytes.length > this.buffer.length - this.buffered) await this.flush()
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

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = Buffer.allocUnsafe(length)
    const { bytesRead } = await this.handle.read(out, 0, length, offset)
    if (bytesRead !== length) throw new Error(`spill file ${this.file}: read ${bytesRead} of ${length} bytes at ${offset}`)
    return out
  }

  async remove(): Promise<void> {
    if (this.removed) return
    this.removed = true
    liveSpillFiles.delete(this.file)
    try {
      await this.handle.close()
    } finally {
      await unlink(this.file).catch(() => {})
    }
  }
}
