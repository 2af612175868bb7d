import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type GeneratedFrame, generateFrames } from '../../../bench/source/generator.js'
import { openOrGenerateWorkload, openWorkload, type StoredFrame, type WorkloadStore } from '../../../bench/source/store.js'

const OPTIONS = { seed: 'synthetic-store', accounts: 5, events: 120, workers: 0 }
let dir: string
let store: WorkloadStore
let generated: GeneratedFrame[]

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'skyfill-synthetic-store-'))
  store = await openOrGenerateWorkload(OPTIONS, { dir })
  generated = await generateFrames(OPTIONS)
})

afterAll(() => rm(dir, { recursive: true, force: true }))

async function read(from: WorkloadStore, afterSeq: number): Promise<StoredFrame[]> {
  const frames: StoredFrame[] = []
  for await (const frame of from.frames(afterSeq)) frames.push(frame)
  return frames
}

const hex = (frames: { seq: number; bytes: Uint8Array }[]) => frames.map((f) => [f.seq, Buffer.from(f.bytes).toString('hex')])

test('a stored workload reads back byte-identical to what the generator produces', async () => {
  expect(hex(await read(store, 0))).toEqual(hex(generated))
})

test('reading a stored workload from cursor N starts at seq N+1', async () => {
  expect(hex(await read(store, 77))).toEqual(hex(generated.slice(77)))
  expect(await read(store, 120)).toEqual([])
})

test('the manifest lists every account with its signing key', () => {
  expect(store.manifest.accounts).toEqual(generated.flatMap((f) => (f.account ? [f.account] : [])))
  expect(store.manifest.headSeq).toBe(120)
})

test('opening the same parameters again reuses the stored files instead of regenerating', async () => {
  const before = await stat(`${store.path}.frames`)
  const again = await openOrGenerateWorkload(OPTIONS, { dir })
  expect(again.path).toBe(store.path)
  expect((await stat(`${again.path}.frames`)).mtimeMs).toBe(before.mtimeMs)
})

test('changed parameters generate a separate workload', async () => {
  const other = await openOrGenerateWorkload({ ...OPTIONS, spacingMs: 5 }, { dir })
  expect(other.path).not.toBe(store.path)
  expect((await readdir(dir)).filter((name) => name.endsWith('.json'))).toHaveLength(2)
})

test('a workload without its manifest counts as absent, so a half-written one is never served', async () => {
  await expect(openWorkload(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' })
})
