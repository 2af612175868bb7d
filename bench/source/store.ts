// Generated workloads on disk, so a benchmark pays for signing a million commits once. A workload is three files
// named by a key over its parameters and the generator's own source: `.frames` (each frame as a 4-byte big-endian
// length then its bytes), `.idx` (the byte offset of every frame, for cursors) and `.json` (the manifest, written
// last, so a half-written workload is never mistaken for a complete one).
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SyntheticAccount } from './accounts.js'
import { type GeneratedFrame, type GenerateOptions, generateWorkload } from './generator.js'
import { DEFAULT_SPACING_MS, DEFAULT_START_TIME, endStatusCounts } from './planner.js'

export type StoredFrame = { seq: number; bytes: Uint8Array }

/** Frames with contiguous seqs up to `headSeq`, readable from any cursor. */
export interface FrameStore {
  readonly headSeq: number
  /** Frames with seq > afterSeq, in order, read lazily: a consumer that stops pulling stops the reading. */
  frames(afterSeq: number): AsyncIterable<StoredFrame>
}

export type WorkloadManifest = {
  params: { seed: string; accounts: number; events: number; startTime: string; spacingMs: number; endStatuses: Record<string, number> }
  headSeq: number
  bytes: number
  accounts: (SyntheticAccount & { signingKey: string })[]
  generationMs: number
}

export type WorkloadStore = FrameStore & { readonly path: string; readonly manifest: WorkloadManifest }

export type StoreOptions = {
  /** Default: bench/out/synthetic in this repository. */
  dir?: string
  onProgress?: (seq: number, events: number) => void
}

export const DEFAULT_STORE_DIR = fileURLToPath(new URL('../out/synthetic/', import.meta.url))
const GENERATOR_SOURCES = ['accounts', 'committer', 'frames', 'generator', 'mst-cache', 'planner', 'prng', 'records']
const READ_CHUNK = 1 << 20

/** The stored workload for these parameters, generated first if it is not on disk yet. */
export async function openOrGenerateWorkload(opts: GenerateOptions, storeOpts: StoreOptions = {}): Promise<WorkloadStore> {
  const dir = storeOpts.dir ?? DEFAULT_STORE_DIR
  const params = normalizedParams(opts)
  const path = join(dir, await workloadKey(params))
  try {
    return await openWorkload(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dir, { recursive: true })
  const started = performance.now()
  const frames = generateWorkload(opts)
  const progress = storeOpts.onProgress
  const { headSeq, bytes, accounts } = await writeFrames(path, progress ? reportProgress(frames, opts.events, progress) : frames)
  const manifest: WorkloadManifest = { params, headSeq, bytes, accounts, generationMs: Math.round(performance.now() - started) }
  await writeAtomically(`${path}.json`, JSON.stringify(manifest, null, 2))
  return openWorkload(path)
}

export async function openWorkload(path: string): Promise<WorkloadStore> {
  const manifest = JSON.parse(await readFile(`${path}.json`, 'utf8')) as WorkloadManifest
  const idx = await readFile(`${path}.idx`)
  // Copied, since a Float64Array view needs an 8-byte-aligned offset that a Buffer does not promise.
  const offsets = new Float64Array(Uint8Array.from(idx).buffer)
  if (offsets.length !== manifest.headSeq) throw new Error(`${path}.idx has ${offsets.length} entries, expected ${manifest.headSeq}`)
  return { path, manifest, headSeq: manifest.headSeq, frames: (afterSeq) => readFrames(`${path}.frames`, offsets, afterSeq) }
}

function normalizedParams(opts: GenerateOptions): WorkloadManifest['params'] {
  return {
    seed: String(opts.seed),
    accounts: opts.accounts,
    events: opts.events,
    startTime: (opts.startTime ?? DEFAULT_START_TIME).toISOString(),
    spacingMs: opts.spacingMs ?? DEFAULT_SPACING_MS,
    endStatuses: endStatusCounts(opts),
  }
}

/** Changes with the parameters and with the generator's code, so an edited generator never serves a stale cache. */
async function workloadKey(params: WorkloadManifest['params']): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(params))
  for (const name of GENERATOR_SOURCES) hash.update(await readFile(new URL(`./${name}.ts`, import.meta.url)))
  const readable = `${params.seed}-a${params.accounts}-e${params.events}`.replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 64)
  return `${readable}-${hash.digest('hex').slice(0, 16)}`
}

async function* reportProgress(frames: AsyncIterable<GeneratedFrame>, events: number, report: (seq: number, events: number) => void) {
  for await (const frame of frames) {
    if (frame.seq % 10_000 === 0) report(frame.seq, events)
    yield frame
  }
}

async function writeFrames(path: string, frames: AsyncIterable<GeneratedFrame>) {
  const tmp = `${path}.${process.pid}.tmp`
  const file = await open(`${tmp}.frames`, 'w')
  const offsets: number[] = []
  const accounts: WorkloadManifest['accounts'] = []
  let chunk = Buffer.allocUnsafe(READ_CHUNK)
  let used = 0
  let written = 0
  try {
    for await (const frame of frames) {
      if (frame.seq !== offsets.length + 1) throw new Error(`frames must have contiguous seqs from 1; got ${frame.seq}`)
      if (frame.account) accounts.push(frame.account)
      offsets.push(written + used)
      if (used + 4 + frame.bytes.length > chunk.length) {
        await file.write(chunk, 0, used)
        written += used
        used = 0
        if (4 + frame.bytes.length > chunk.length) chunk = Buffer.allocUnsafe(4 + frame.bytes.length)
      }
      chunk.writeUInt32BE(frame.bytes.length, used)
      chunk.set(frame.bytes, used + 4)
      used += 4 + frame.bytes.length
    }
    await file.write(chunk, 0, used)
    written += used
  } catch (err) {
    await file.close()
    await rm(`${tmp}.frames`, { force: true })
    throw err
  }
  await file.close()
  await writeFile(`${tmp}.idx`, new Uint8Array(Float64Array.from(offsets).buffer))
  await rename(`${tmp}.frames`, `${path}.frames`)
  await rename(`${tmp}.idx`, `${path}.idx`)
  return { headSeq: offsets.length, bytes: written, accounts }
}

async function writeAtomically(path: string, contents: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, contents)
  await rename(tmp, path)
}

async function* readFrames(path: string, offsets: Float64Array, afterSeq: number): AsyncGenerator<StoredFrame> {
  if (afterSeq >= offsets.length) return
  const file = await open(path, 'r')
  try {
    let seq = Math.max(0, afterSeq) + 1
    let position = offsets[seq - 1]
    let pending: Uint8Array = new Uint8Array(0)
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.max(READ_CHUNK, pending.length * 2))
      chunk.set(pending, 0)
      const { bytesRead } = await file.read(chunk, pending.length, chunk.length - pending.length, position)
      if (bytesRead === 0) {
        if (pending.length > 0) throw new Error(`${path}: truncated frame at seq ${seq}`)
        return
      }
      position += bytesRead
      const end = pending.length + bytesRead
      let at = 0
      while (at + 4 <= end) {
        const length = chunk.readUInt32BE(at)
        if (at + 4 + length > end) break
        // Each chunk is a fresh buffer, so frames handed out stay valid after later reads.
        yield { seq: seq++, bytes: chunk.subarray(at + 4, at + 4 + length) }
        at += 4 + length
      }
      pending = chunk.subarray(at, end)
    }
  } finally {
    await file.close()
  }
}
