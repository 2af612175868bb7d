import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { decode } from '@atproto/lex-cbor'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreateOp, PipelineItem, Reject } from '../../../server/events/index.js'
import { RepoCarError, type RepoCarErrorKind } from '../../../server/repos/repo-car-error.js'
import { type RepoCarOptions, openRepoCar } from '../../../server/repos/repo-car.js'
import { openUnlinkedFilesIn } from '../../support/open-spill-files.js'
import { type Block, type BuiltRepo, buildRepoCar, carBytes, carHeader, carSection, cborBlock, commitBlock, rawBlock } from '../../support/repo-car-builder.js'

const DID = 'did:plc:testrepoaaaaaaaaaaaaaaaa'
const REV = '3lbaaaaaaaaa2'
const TIME = '2025-01-01T00:00:00.000Z'

let keypair: Secp256k1Keypair
let repo: BuiltRepo
let spillDir: string

function records(n: number) {
  const out = []
  for (let i = 0; i < n; i++) {
    const rkey = `3l${String(i).padStart(11, 'a')}`
    const createdAt = new Date(Date.parse(TIME) + i * 1000).toISOString()
    if (i % 3 === 0) out.push({ key: `app.bsky.feed.post/${rkey}`, record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt } })
    else if (i % 3 === 1) out.push({ key: `app.bsky.graph.follow/${rkey}`, record: { $type: 'app.bsky.graph.follow', subject: DID, createdAt } })
    else {
      const subject = { uri: `at://${DID}/app.bsky.feed.post/x`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }
      out.push({ key: `app.bsky.feed.like/${rkey}`, record: { $type: 'app.bsky.feed.like', subject, createdAt } })
    }
  }
  return out
}

/** The CAR as a stream of `chunkSize` pieces, counting what the reader pulled. */
function streamOf(bytes: Uint8Array, chunkSize = 1000) {
  const counter = { pulled: 0 }
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += chunkSize) {
      const chunk = bytes.subarray(i, i + chunkSize)
      counter.pulled += chunk.length
      yield chunk
    }
  }
  return { body: chunks(), counter }
}

function options(overrides: Partial<RepoCarOptions> = {}): RepoCarOptions {
  return { did: DID, maxCarBytes: 10_000_000, spillDir, spillAboveBytes: 8 * 1024 * 1024, verifyKey: null, partial: false, ...overrides }
}

async function walkAll(bytes: Uint8Array, overrides: Partial<RepoCarOptions> = {}, chunkRecords = 1000): Promise<PipelineItem[]> {
  const car = await openRepoCar(streamOf(bytes).body, options(overrides))
  try {
    const out: PipelineItem[] = []
    for await (const chunk of car.walk({ time: TIME, chunkRecords })) out.push(...chunk)
    return out
  } finally {
    await car.close()
  }
}

async function failure(bytes: Uint8Array, overrides: Partial<RepoCarOptions> = {}): Promise<RepoCarError> {
  try {
    await walkAll(bytes, overrides)
  } catch (err) {
    expect(err).toBeInstanceOf(RepoCarError)
    return err as RepoCarError
  }
  throw new Error('expected a RepoCarError')
}

async function expectKind(bytes: Uint8Array, kind: RepoCarErrorKind, overrides: Partial<RepoCarOptions> = {}): Promise<string> {
  const err = await failure(bytes, overrides)
  expect(err.kind).toBe(kind)
  return err.message
}

/** A CAR whose MST is the one node given, committed by `keypair`. */
async function oneNodeCar(entries: { key: string; block: Block }[]): Promise<Uint8Array> {
  const node = cborBlock({ l: null, e: entries.map((e) => ({ p: 0, k: Buffer.from(e.key), v: e.block.cid, t: null })) })
  const commit = await commitBlock({ did: DID, data: node.cid, rev: REV }, keypair)
  return carBytes(commit.cid, [commit, node, ...entries.map((e) => e.block)])
}

beforeAll(async () => {
  keypair = await Secp256k1Keypair.create()
  repo = await buildRepoCar({ did: DID, keypair, rev: REV, records: records(120) })
  spillDir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-car-walk-test-'))
})

afterAll(() => rmSync(spillDir, { recursive: true, force: true }))

describe('openRepoCar: reading', () => {
  it('reads the commit: DID, rev, MST root, version, prev', async () => {
    const car = await openRepoCar(streamOf(repo.bytes).body, options())
    await car.close()
    expect(car.commit).toEqual({ did: DID, rev: REV, dataCid: repo.data.toString(), version: 3, prev: null })
    expect(car.blockCount).toBe(1 + repo.nodes.length + repo.records.size)
    expect(car.carBytes).toBe(repo.bytes.length)
  })

  it('walks every record in key order as a CreateOp with the commit rev', async () => {
    const items = await walkAll(repo.bytes)
    const expected = [...repo.records.keys()].sort()
    expect(items.map((i) => (i as CreateOp).uri)).toEqual(expected.map((key) => `at://${DID}/${key}`))
    const first = items[0] as CreateOp
    const [collection, rkey] = expected[0].split('/')
    const source = records(120).find((r) => r.key === expected[0])!.record
    const cid = repo.records.get(expected[0])!.cid.toString()
    const uri = `at://${DID}/${expected[0]}`
    expect(first).toEqual({ kind: 'create', seq: 0, time: TIME, did: DID, rev: REV, collection, rkey, uri, cid, record: source })
  })

  it('reads the same records whatever the stream chunking', async () => {
    const whole = await walkAll(repo.bytes)
    for (const size of [1, 7, 4096]) {
      const car = await openRepoCar(streamOf(repo.bytes, size).body, options())
      const items: PipelineItem[] = []
      for await (const chunk of car.walk({ time: TIME, chunkRecords: 50 })) items.push(...chunk)
      await car.close()
      expect(items).toEqual(whole)
    }
  })

  it('yields chunks of at most chunkRecords items, with a turn of the event loop between them', async () => {
    const car = await openRepoCar(streamOf(repo.bytes).body, options())
    let turns = 0
    const timer = setInterval(() => turns++, 0)
    const sizes: number[] = []
    const turnsAt: number[] = []
    try {
      for await (const chunk of car.walk({ time: TIME, chunkRecords: 25 })) {
        sizes.push(chunk.length)
        turnsAt.push(turns)
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    } finally {
      clearInterval(timer)
      await car.close()
    }
    expect(sizes).toEqual([25, 25, 25, 25, 20])
    expect(new Set(turnsAt).size).toBeGreaterThan(1)
  })

  it('lists every key and record CID in order with keys()', async () => {
    const car = await openRepoCar(streamOf(repo.bytes).body, options())
    const keys = []
    for await (const key of car.keys()) keys.push(key)
    await car.close()
    expect(keys).toEqual([...repo.records].map(([key, block]) => ({ key, cid: block.cid.toString() })))
  })

  it('keeps a CAR below spillAboveBytes in memory and spills a bigger one to an unlinked file that close() closes', async () => {
    const small = await openRepoCar(streamOf(repo.bytes).body, options())
    expect(small.spilled).toBe(false)
    expect(openUnlinkedFilesIn(spillDir)).toBe(0)
    await small.close()
    const big = await openRepoCar(streamOf(repo.bytes).body, options({ spillAboveBytes: 2000 }))
    expect(big.spilled).toBe(true)
    expect(readdirSync(spillDir)).toEqual([])
    expect(openUnlinkedFilesIn(spillDir)).toBe(1)
    const items: PipelineItem[] = []
    for await (const chunk of big.walk({ time: TIME, chunkRecords: 1000 })) items.push(...chunk)
    await big.close()
    expect(openUnlinkedFilesIn(spillDir)).toBe(0)
    expect(items).toEqual(await walkAll(repo.bytes))
  })

  it('closes the spill file when the CAR fails after spilling', async () => {
    const cut = repo.bytes.subarray(0, repo.bytes.length - 10)
    expect(await expectKind(cut, 'truncated', { spillAboveBytes: 2000 })).toMatch(/ends inside/)
    expect(readdirSync(spillDir)).toEqual([])
    expect(openUnlinkedFilesIn(spillDir)).toBe(0)
  })
})

describe('openRepoCar: verification', () => {
  it('accepts a commit signed by verifyKey', async () => {
    const car = await openRepoCar(streamOf(repo.bytes).body, options({ verifyKey: keypair.did() }))
    await car.close()
    expect(car.verified).toBe(true)
  })

  it("fails 'bad-signature' for a commit signed by another key", async () => {
    const other = await Secp256k1Keypair.create()
    expect(await expectKind(repo.bytes, 'bad-signature', { verifyKey: other.did() })).toContain(other.did())
  })

  it("fails 'bad-signature' for the high-S twin of the commit's signature, as the firehose decoder does", async () => {
    const order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const signed = decode(repo.commit.bytes) as Record<string, unknown> & { sig: Uint8Array }
    const s = BigInt(`0x${Buffer.from(signed.sig.subarray(32)).toString('hex')}`)
    const sig = Uint8Array.from([...signed.sig.subarray(0, 32), ...Buffer.from((order - s).toString(16).padStart(64, '0'), 'hex')])
    const twin = cborBlock({ ...signed, sig })
    const bytes = carBytes(twin.cid, [twin, ...repo.nodes, ...repo.records.values()])
    expect(await expectKind(bytes, 'bad-signature', { verifyKey: keypair.did() })).toContain(keypair.did())
  })

  it("fails 'wrong-did' for another repository's commit", async () => {
    expect(await expectKind(repo.bytes, 'wrong-did', { did: 'did:plc:someoneelseaaaaaaaaaaaaa' })).toContain(DID)
  })

  it("fails 'bad-block' when a record block's bytes do not hash to its CID", async () => {
    const bytes = Uint8Array.from(repo.bytes)
    const lastRecord = [...repo.records.values()].at(-1)!
    bytes[bytes.length - Math.floor(lastRecord.bytes.length / 2)] ^= 0xff
    expect(await expectKind(bytes, 'bad-block')).toMatch(/does not hash to its CID/)
  })

  it("fails 'truncated' wherever the stream is cut", async () => {
    const small = await buildRepoCar({ did: DID, keypair, rev: REV, records: records(4) })
    // A cut between two sections is a CAR with fewer blocks: what is missing then says what fails.
    const boundaries = new Set<number>()
    let end = carHeader(small.root).length
    for (const block of [small.commit, ...small.nodes, ...small.records.values()]) {
      boundaries.add(end)
      end += carSection(block).length
    }
    expect(end).toBe(small.bytes.length)
    for (let at = 0; at < small.bytes.length; at++) {
      if (!boundaries.has(at)) expect(await failure(small.bytes.subarray(0, at))).toMatchObject({ kind: 'truncated' })
    }
  })

  it("fails 'too-large' as soon as the stream passes maxCarBytes, without reading on", async () => {
    const { body, counter } = streamOf(repo.bytes, 1000)
    const err = await openRepoCar(body, options({ maxCarBytes: 5000 })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RepoCarError)
    expect((err as RepoCarError).kind).toBe('too-large')
    expect(counter.pulled).toBe(6000)
    expect(repo.bytes.length).toBeGreaterThan(20_000)
  })

  it("fails 'no-root' when the root block is absent, 'not-a-commit' when it is a record", async () => {
    const blocks = [...repo.nodes, ...repo.records.values()]
    await expectKind(carBytes(repo.root, blocks), 'no-root')
    const record = [...repo.records.values()][0]
    expect(await expectKind(carBytes(record.cid, blocks), 'not-a-commit')).toMatch(/did/)
  })

  it("fails 'missing-block' for an absent MST node of a whole-repo CAR", async () => {
    expect(repo.nodes.length).toBeGreaterThan(2)
    const car = carBytes(repo.root, [repo.commit, ...repo.nodes.filter((_, i) => i !== 1), ...repo.records.values()])
    expect(await expectKind(car, 'missing-block')).toContain(repo.nodes[1].cid.toString())
  })

  it("fails 'malformed' for MST keys out of order", async () => {
    const post = cborBlock({ $type: 'app.bsky.feed.post', text: 'x', createdAt: TIME })
    const car = await oneNodeCar([
      { key: 'app.bsky.feed.post/3lbbbbbbbbbbb', block: post },
      { key: 'app.bsky.feed.post/3laaaaaaaaaaa', block: post },
    ])
    expect(await expectKind(car, 'malformed')).toMatch(/out of order/)
  })

  it('stops with the abort reason when the signal aborts', async () => {
    const controller = new AbortController()
    controller.abort(new Error('shutting down'))
    await expect(openRepoCar(streamOf(repo.bytes).body, options({ signal: controller.signal }))).rejects.toThrow('shutting down')
  })
})

describe('openRepoCar: records that cannot be indexed', () => {
  it("rejects a record over maxRecordBytes as 'record', with its size and the cap, and passes the others", async () => {
    const big = { key: 'app.bsky.feed.post/3lbbbbbbbbbbb', record: { $type: 'app.bsky.feed.post', text: 'x'.repeat(3000), createdAt: TIME } }
    const built = await buildRepoCar({ did: DID, keypair, rev: REV, records: [...records(10), big] })
    const items = await walkAll(built.bytes, { maxRecordBytes: 2000 })
    expect(items.filter((i) => i.kind === 'create')).toHaveLength(10)
    const rejects = items.filter((i): i is Reject => i.kind === 'reject')
    const size = built.records.get(big.key)!.bytes.length
    expect(rejects).toEqual([
      {
        kind: 'reject', seq: 0, time: TIME, did: DID, uri: `at://${DID}/${big.key}`, collection: 'app.bsky.feed.post', category: 'record',
        reason: `record block is ${size} bytes, over the 2000-byte cap`,
        detail: { path: big.key, cid: built.records.get(big.key)!.cid.toString(), rev: REV },
      },
    ])
  })

  it('rejects a record over the cap that is too big to keep, hashed as it streams past', async () => {
    const huge = { key: 'app.bsky.feed.post/3lbbbbbbbbbbb', record: { $type: 'app.bsky.feed.post', text: 'x'.repeat(1_200_000), createdAt: TIME } }
    const built = await buildRepoCar({ did: DID, keypair, rev: REV, records: [...records(3), huge] })
    const items = await walkAll(built.bytes, { maxRecordBytes: 1000 })
    expect(items.map((i) => i.kind)).toEqual(['create', 'create', 'reject', 'create'])
    expect((items[2] as Reject).reason).toBe(`record block is ${built.records.get(huge.key)!.bytes.length} bytes, over the 1000-byte cap`)
  })

  it("rejects a key that is not collection/rkey as 'record' with the decoders' reason", async () => {
    const post = cborBlock({ $type: 'app.bsky.feed.post', text: 'x', createdAt: TIME })
    const car = await oneNodeCar([{ key: 'app.bsky.feed.post/3laaaaaaaaaaa', block: post }, { key: 'not-a-path', block: post }])
    const items = await walkAll(car)
    expect(items[0].kind).toBe('create')
    expect(items[1]).toMatchObject({
      kind: 'reject',
      category: 'record',
      uri: null,
      collection: null,
      reason: 'op path is not a valid collection/rkey',
    })
  })

  it("rejects a record block that is not DAG-CBOR, or not a map, as 'record'", async () => {
    const car = await oneNodeCar([
      { key: 'app.bsky.feed.post/3laaaaaaaaaaa', block: cborBlock(['not', 'a', 'map']) },
      { key: 'app.bsky.feed.post/3lbbbbbbbbbbb', block: rawBlock(Uint8Array.from([0xa1, 0xff])) },
    ])
    const items = await walkAll(car)
    expect(items).toMatchObject([
      { kind: 'reject', category: 'record', reason: 'record is not a map' },
      { kind: 'reject', category: 'record', reason: expect.stringMatching(/^record block is not DAG-CBOR: /) },
    ])
  })

  it("rejects a record block missing from a whole-repo CAR as 'car'", async () => {
    const [firstKey, firstBlock] = [...repo.records][0]
    const car = carBytes(repo.root, [repo.commit, ...repo.nodes, ...[...repo.records.values()].filter((b) => b !== firstBlock)])
    const items = await walkAll(car)
    expect(items).toHaveLength(repo.records.size)
    expect(items[0]).toMatchObject({ kind: 'reject', category: 'car', uri: `at://${DID}/${firstKey}`, reason: 'record block missing from CAR' })
  })

  it('skips absent MST nodes and records of a partial (since) CAR without a word', async () => {
    const keep = [...repo.records].filter((_, i) => i % 2 === 0)
    const car = carBytes(repo.root, [repo.commit, ...repo.nodes.filter((_, i) => i !== 1), ...keep.map(([, b]) => b)])
    const items = await walkAll(car, { partial: true })
    expect(items.every((i) => i.kind === 'create')).toBe(true)
    const uris = items.map((i) => (i as CreateOp).uri)
    expect(uris.length).toBeGreaterThan(0)
    expect(uris.length).toBeLessThan(keep.length)
    const kept = new Set(keep.map(([key]) => `at://${DID}/${key}`))
    expect(uris.filter((uri) => !kept.has(uri))).toEqual([])
    expect([...uris].sort()).toEqual(uris)
  })
})
