// Hostile input must come out as rejects: no throw, no hang, no absurd allocation, always a DecodeResult.
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeErrorFrame, encodeMessageFrame } from '../../../bench/source/frames.js'
import { Rng } from '../../../bench/source/prng.js'
import { createLeanDecoder } from '../../../server/pipeline/decoder/lean.js'
import { createSyncDecoder } from '../../../server/pipeline/decoder/sync.js'
import type { DecodeResult, PipelineItem } from '../../../server/events/index.js'
import { DID, TIME, commitFrame, post } from './fixtures.js'
import { frameParts, workload } from './workload.js'

const MUTANTS = 10_000
const SLOWEST_ALLOWED_MS = 1000

const ITEM_KINDS = new Set(['create', 'update', 'delete', 'commit', 'sync', 'identity', 'account', 'reject'])
const CATEGORIES = new Set(['frame', 'car', 'verify', 'record', 'unsupported'])

/** A 9-byte CBOR head declaring 2^63-1 of something, for each major type that carries a length. */
const HUGE_HEADS = [0x5b, 0x7b, 0x9b, 0xbb].map((major) => [major, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
/** A CAR varint declaring 2^48 bytes. */
const HUGE_VARINT = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]

let seeds: Uint8Array[]

beforeAll(async () => {
  const frames = await workload()
  seeds = [
    ...frames.filter((_, i) => i % 5 === 0).map((f) => f.bytes),
    await commitFrame([
      { action: 'create', path: 'app.bsky.feed.post/3k2a', record: post('one') },
      { action: 'update', path: 'app.bsky.feed.post/3k2b', record: post('two') },
      { action: 'delete', path: 'app.bsky.feed.post/3k2c' },
    ]),
    encodeErrorFrame('FutureCursor', 'Cursor in the future.'),
    encodeMessageFrame('#info', { name: 'OutdatedCursor' }),
    encodeMessageFrame('#account', { seq: 3, did: DID, time: TIME, active: false, status: 'takendown' }),
  ]
})

function mutate(rng: Rng, commits: Uint8Array[]): Uint8Array {
  const source = rng.pick(seeds)
  switch (rng.int(7)) {
    case 0: {
      const out = source.slice()
      for (let flips = 1 + rng.int(8); flips > 0; flips--) out[rng.int(out.length)] ^= 1 << rng.int(8)
      return out
    }
    case 1:
      return source.subarray(0, rng.int(source.length))
    case 2: {
      const other = rng.pick(seeds)
      return concat(source.subarray(0, rng.int(source.length)), other.subarray(rng.int(other.length)))
    }
    case 3:
      return Uint8Array.from({ length: rng.int(600) }, () => rng.int(256))
    case 4: {
      const at = rng.int(source.length)
      return concat(source.subarray(0, at), Uint8Array.from(rng.pick(HUGE_HEADS)), source.subarray(at))
    }
    case 5:
      return hugeCarLength(rng, rng.pick(commits))
    default:
      // Deep nesting: cborg recurses per level.
      return concat(Uint8Array.from({ length: 1 + rng.int(20_000) }, () => 0x81), Uint8Array.of(0))
  }
}

/** The commit with a CAR whose header or first section claims far more bytes than the frame holds. */
function hugeCarLength(rng: Rng, bytes: Uint8Array): Uint8Array {
  const { body } = frameParts(bytes)
  const blocks = body.blocks as Uint8Array
  const headerEnd = 1 + blocks[0]
  const car = rng.chance(0.5)
    ? concat(Uint8Array.from(HUGE_VARINT), blocks.subarray(1))
    : concat(blocks.subarray(0, headerEnd), Uint8Array.from(HUGE_VARINT), blocks.subarray(headerEnd + 1))
  return encodeMessageFrame('#commit', { ...body, blocks: car })
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

function expectDecodeResult(result: DecodeResult): void {
  if (result.kind === 'info' || result.kind === 'error') {
    expect(typeof result.name).toBe('string')
    expect(result.message === null || typeof result.message === 'string').toBe(true)
    return
  }
  expect(result.kind).toBe('frame')
  const { seq, time, items } = result.frame
  expect(seq === null || (Number.isSafeInteger(seq) && seq > 0)).toBe(true)
  expect(time === null || typeof time === 'string').toBe(true)
  expect(Array.isArray(items)).toBe(true)
  for (const item of items) expectItem(item, seq)
}

function expectItem(item: PipelineItem, seq: number | null): void {
  expect(ITEM_KINDS.has(item.kind)).toBe(true)
  expect(item.seq).toBe(seq)
  if (item.kind === 'reject') {
    expect(CATEGORIES.has(item.category)).toBe(true)
    expect(item.reason.length).toBeGreaterThan(0)
    // The catch-all is for bugs; fuzz input reaching it means a failure mode went unhandled.
    expect(item.reason).not.toMatch(/^decoder failed unexpectedly/)
    expect(() => JSON.stringify(item.detail)).not.toThrow()
  } else if (item.kind === 'create' || item.kind === 'update') {
    expect(item.uri.startsWith(`at://${item.did}/`)).toBe(true)
    expect(typeof item.cid).toBe('string')
    expect(typeof item.record).toBe('object')
  } else if (item.kind === 'commit' || item.kind === 'sync') {
    expect(typeof item.rev).toBe('string')
    expect(typeof item.data).toBe('string')
  }
}

describe('fuzzing the decoders', () => {
  it(`survives ${MUTANTS} mutated frames`, { timeout: 60_000 }, async () => {
    const rng = new Rng('skyfill-decoder-fuzz')
    const commits = seeds.filter((s) => frameParts(s).type === '#commit' && (frameParts(s).body.blocks as Uint8Array).length > 2)
    const lean = createLeanDecoder()
    const sync = createSyncDecoder()
    const slowest = { lean: 0, sync: 0 }
    const outcomes = new Map<string, number>()
    const started = performance.now()
    for (let i = 0; i < MUTANTS; i++) {
      const input = mutate(rng, commits)
      let t = performance.now()
      const leanResult = lean.decode(input) as DecodeResult
      slowest.lean = Math.max(slowest.lean, performance.now() - t)
      t = performance.now()
      const syncResult = await sync.decode(input)
      slowest.sync = Math.max(slowest.sync, performance.now() - t)
      expectDecodeResult(leanResult)
      expectDecodeResult(syncResult)
      const key = leanResult.kind === 'frame' ? leanResult.frame.items.map((i) => (i.kind === 'reject' ? i.category : 'ok')).join(',') : leanResult.kind
      outcomes.set(key || 'empty', (outcomes.get(key || 'empty') ?? 0) + 1)
    }
    const elapsed = performance.now() - started
    console.log(`fuzz: ${MUTANTS} mutants in ${elapsed.toFixed(0)} ms; slowest lean ${slowest.lean.toFixed(1)} ms, sync ${slowest.sync.toFixed(1)} ms`)
    expect(slowest.lean).toBeLessThan(SLOWEST_ALLOWED_MS)
    expect(slowest.sync).toBeLessThan(SLOWEST_ALLOWED_MS)
    // The mutants must reach past the frame parser, or the test proves little about the commit path.
    expect(outcomes.get('frame')).toBeGreaterThan(1000)
    expect([...outcomes.keys()].some((k) => k.includes('car'))).toBe(true)
    expect([...outcomes.keys()].some((k) => k.includes('ok'))).toBe(true)
  })
})

