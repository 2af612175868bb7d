// Repository CARs as Bluesky's reference PDS serves them (com.atproto.sync.getRepo), walked and compared with
// the PDS's own listRecords, whole and as `since` diffs, verified against the DID's key in the harness PLC.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { decode } from '@atproto/lex-cbor'
import { lexToJson } from '@atproto/lexicon'
import { type Commit, readCar, readCarWithRoot, signCommit } from '@atproto/repo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreateOp, PipelineItem, Reject } from '../../../server/events/index.js'
import { RepoCarError, type RepoCarErrorKind } from '../../../server/repos/repo-car-error.js'
import { type RepoCar, type RepoCarOptions, openRepoCar } from '../../../server/repos/repo-car.js'
import { encodeMstNode, mstNodeCid, readMstNode } from '../../../server/pipeline/decoder/mst-node.js'
import { type PdsHandle, startPds } from '../../harness/pds.js'
import { type PdsDump, dumpPdsRepos } from '../../harness/pds-repos.js'
import { type SeedSummary, seedWorkload } from '../../harness/seed.js'
import { mstNodesOf } from '../../support/mst-node-blocks.js'
import { type Block, carBytes, cborBlock } from '../../support/repo-car-builder.js'

const TIME = '2025-01-01T00:00:00.000Z'

let pds: PdsHandle
let seeded: SeedSummary
let dump: PdsDump
let spillDir: string

async function xrpc<T>(nsid: string, params: Record<string, string>): Promise<T> {
  const res = await fetch(`${pds.url}/xrpc/${nsid}?${new URLSearchParams(params)}`)
  if (!res.ok) throw new Error(`${nsid} → HTTP ${res.status}: ${await res.text()}`)
  return (await res.json()) as T
}

async function getRepo(did: string, since?: string): Promise<Uint8Array> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?${new URLSearchParams(since ? { did, since } : { did })}`)
  if (!res.ok) throw new Error(`getRepo ${did} → HTTP ${res.status}: ${await res.text()}`)
  return new Uint8Array(await res.arrayBuffer())
}

/** The did:key of the DID's #atproto key, from the PLC directory's operation data for the DID. */
async function atprotoKey(did: string): Promise<string> {
  const res = await fetch(`${pds.plcUrl}/${did}/data`)
  const data = (await res.json()) as { verificationMethods: { atproto: string } }
  return data.verificationMethods.atproto
}

function options(did: string, overrides: Partial<RepoCarOptions> = {}): RepoCarOptions {
  return { did, maxCarBytes: 50_000_000, spillDir, spillAboveBytes: 8 * 1024 * 1024, verifyKey: null, partial: false, ...overrides }
}

async function* inPieces(bytes: Uint8Array, size: number, counter = { pulled: 0 }) {
  for (let i = 0; i < bytes.length; i += size) {
    counter.pulled += Math.min(size, bytes.length - i)
    yield bytes.subarray(i, i + size)
  }
}

async function walk(car: RepoCar): Promise<PipelineItem[]> {
  try {
    const items: PipelineItem[] = []
    for await (const chunk of car.walk({ time: TIME, chunkRecords: 16 })) items.push(...chunk)
    return items
  } finally {
    await car.close()
  }
}

async function failure(bytes: Uint8Array, opts: RepoCarOptions): Promise<RepoCarErrorKind> {
  const err = await openRepoCar(inPieces(bytes, 4096), opts).then(walk).then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RepoCarError)
  return (err as RepoCarError).kind
}

/** uri → { cid, value } as the PDS dump has them, from what the walk emitted. */
function asDump(items: PipelineItem[]): Map<string, { cid: string; value: unknown }> {
  const out = new Map<string, { cid: string; value: unknown }>()
  for (const item of items) {
    if (item.kind !== 'create') throw new Error(`unexpected ${item.kind}: ${JSON.stringify(item)}`)
    out.set(item.uri, { cid: item.cid, value: lexToJson(item.record) })
  }
  return out
}

function dumpOf(d: PdsDump, did: string): Map<string, { cid: string; value: unknown }> {
  const out = new Map<string, { cid: string; value: unknown }>()
  for (const records of d.records.values()) {
    for (const [uri, r] of records) if (uri.startsWith(`at://${did}/`)) out.set(uri, { cid: r.cid, value: r.value })
  }
  return out
}

/** The CAR with its commit replaced by `commit` (signed by whoever the test says). */
async function withCommit(bytes: Uint8Array, change: (commit: Commit) => Promise<Commit>): Promise<Uint8Array> {
  const { root, blocks } = await readCarWithRoot(bytes)
  const commit = cborBlock(await change(decode(blocks.get(root)!) as unknown as Commit))
  const rest: Block[] = []
  for (const [cid, block] of blocks) if (!cid.equals(root)) rest.push({ cid: cid as Block['cid'], bytes: block })
  return carBytes(commit.cid, [commit, ...rest])
}

beforeAll(async () => {
  spillDir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-pds-car-'))
  pds = await startPds()
  seeded = await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 60, seed: 11 })
  dump = await dumpPdsRepos(pds.url, seeded.dids)
})

afterAll(async () => {
  await pds?.stop()
  rmSync(spillDir, { recursive: true, force: true })
})

describe('getRepo CARs from the reference PDS', () => {
  it('walk to exactly the records listRecords serves (uri, cid, value), verified by the key in the DID document', async () => {
    for (const did of seeded.dids) {
      const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${did}`)
      const car = await openRepoCar(res.body!, options(did, { verifyKey: await atprotoKey(did) }))
      const latest = await xrpc<{ rev: string }>('com.atproto.sync.getLatestCommit', { did })
      expect(car.commit).toMatchObject({ did, rev: latest.rev, version: 3 })
      const walked = asDump(await walk(car))
      const expected = dumpOf(dump, did)
      expect(expected.size).toBeGreaterThan(10)
      expect(walked).toEqual(expected)
    }
    expect(readdirSync(spillDir)).toEqual([])
  })

  it("carry MST nodes that the verified decoder's node codec reads in canonical form and writes back byte for byte", async () => {
    let checked = 0
    for (const did of seeded.dids) {
      for (const node of await mstNodesOf(await getRepo(did))) {
        const raw = readMstNode(node.bytes)
        expect(raw?.e.length).toBe(node.entries.length)
        const bytes = encodeMstNode(node.left, node.entries)
        expect(Buffer.from(bytes).equals(node.bytes)).toBe(true)
        expect(Buffer.from(mstNodeCid(bytes).bytes).equals(node.cid.bytes)).toBe(true)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(3)
  })

  it('walk the same spilled to disk as in memory', async () => {
    const did = seeded.dids[0]
    const bytes = await getRepo(did)
    const spilled = await openRepoCar(inPieces(bytes, 1000), options(did, { spillAboveBytes: 1024 }))
    expect(spilled.spilled).toBe(true)
    expect(asDump(await walk(spilled))).toEqual(dumpOf(dump, did))
  })

  it('list every key in order with keys(), as listRecords has them', async () => {
    const did = seeded.dids[1]
    const car = await openRepoCar(inPieces(await getRepo(did), 4096), options(did))
    const keys: string[] = []
    for await (const { key } of car.keys()) keys.push(`at://${did}/${key}`)
    await car.close()
    expect(keys).toEqual([...dumpOf(dump, did).keys()].sort())
  })

  it("fail 'bad-signature' once the commit is re-signed by another key, and pass unverified", async () => {
    const did = seeded.dids[0]
    const other = await Secp256k1Keypair.create()
    const forged = await withCommit(await getRepo(did), async ({ sig: _sig, ...unsigned }) => signCommit(unsigned, other))
    expect(await failure(forged, options(did, { verifyKey: await atprotoKey(did) }))).toBe('bad-signature')
    expect(asDump(await walk(await openRepoCar(inPieces(forged, 4096), options(did))))).toEqual(dumpOf(dump, did))
  })

  it("fail 'wrong-did' for another DID's repository", async () => {
    const [mine, theirs] = seeded.dids
    expect(await failure(await getRepo(theirs), options(mine))).toBe('wrong-did')
  })

  it("fail 'truncated' when cut short and 'bad-block' with a flipped byte in a record block", async () => {
    const did = seeded.dids[0]
    const bytes = await getRepo(did)
    expect(await failure(bytes.subarray(0, Math.floor(bytes.length / 2)), options(did))).toBe('truncated')
    const { blocks } = await readCarWithRoot(bytes)
    const record = decodeRecordBlock(blocks, dumpOf(dump, did).values().next().value!.cid)
    const at = Buffer.from(bytes).indexOf(Buffer.from(record))
    expect(at).toBeGreaterThan(0)
    const flipped = Uint8Array.from(bytes)
    flipped[at + Math.floor(record.length / 2)] ^= 0x01
    expect(await failure(flipped, options(did))).toBe('bad-block')
  })

  it("fail 'too-large' and stop reading at the cap", async () => {
    const did = seeded.dids[0]
    const bytes = await getRepo(did)
    const counter = { pulled: 0 }
    const err = await openRepoCar(inPieces(bytes, 1024, counter), options(did, { maxCarBytes: 4096 })).catch((e: unknown) => e)
    expect((err as RepoCarError).kind).toBe('too-large')
    expect(counter.pulled).toBe(5 * 1024)
    expect(bytes.length).toBeGreaterThan(10 * 1024)
  })

  it("reject records over maxRecordBytes as 'record' with their size, and pass the others", async () => {
    const did = seeded.dids[2]
    const bytes = await getRepo(did)
    const { blocks } = await readCarWithRoot(bytes)
    const expected = dumpOf(dump, did)
    const sizes = new Map([...expected].map(([uri, r]) => [uri, decodeRecordBlock(blocks, r.cid).length]))
    const cap = [...sizes.values()].sort((a, b) => a - b)[Math.floor(sizes.size / 2)]
    const items = await walk(await openRepoCar(inPieces(bytes, 4096), options(did, { maxRecordBytes: cap })))
    const over = [...sizes].filter(([, size]) => size > cap)
    expect(over.length).toBeGreaterThan(0)
    const rejects = items.filter((i): i is Reject => i.kind === 'reject')
    expect(new Map(rejects.map((r) => [r.uri, r.reason]))).toEqual(
      new Map(over.map(([uri, size]) => [uri, `record block is ${size} bytes, over the ${cap}-byte cap`])),
    )
    const creates = items.filter((i): i is CreateOp => i.kind === 'create')
    expect(creates.length + rejects.length).toBe(expected.size)
    for (const c of creates) expect(sizes.get(c.uri)).toBeLessThanOrEqual(cap)
  })
})

function decodeRecordBlock(blocks: Awaited<ReturnType<typeof readCarWithRoot>>['blocks'], cid: string): Uint8Array {
  for (const [blockCid, bytes] of blocks) if (blockCid.toString() === cid) return bytes
  throw new Error(`no block ${cid}`)
}

describe('getRepo with since (a diff from a rev)', () => {
  it('walks exactly the records created or updated after that rev', async () => {
    const account = seeded.accounts[0]
    const did = account.did
    const { rev: since } = await xrpc<{ rev: string }>('com.atproto.sync.getLatestCommit', { did })
    const before = dumpOf(await dumpPdsRepos(pds.url, [did]), did)
    const repo = account.agent.com.atproto.repo
    const posts = []
    for (let i = 0; i < 3; i++) {
      const record = { $type: 'app.bsky.feed.post', text: `after ${i}`, createdAt: new Date().toISOString() }
      posts.push(await repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record }))
    }
    const profile = { $type: 'app.bsky.actor.profile', displayName: 'changed after the rev' }
    await repo.putRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record: profile })
    const [oldUri] = [...before.keys()].filter((uri) => uri.includes('/app.bsky.feed.post/'))
    await repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: oldUri.split('/').at(-1)! })
    await repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: posts[2].data.uri.split('/').at(-1)! })
    const after = dumpOf(await dumpPdsRepos(pds.url, [did]), did)
    const changed = new Map([...after].filter(([uri, r]) => before.get(uri)?.cid !== r.cid))
    expect(changed.size).toBe(3) // two new posts and the profile; the third post is gone again

    const diff = await getRepo(did, since)
    const whole = await getRepo(did)
    expect(diff.length).toBeLessThan(whole.length / 2)
    const car = await openRepoCar(inPieces(diff, 4096), options(did, { partial: true, verifyKey: await atprotoKey(did) }))
    const latest = await xrpc<{ rev: string }>('com.atproto.sync.getLatestCommit', { did })
    expect(car.commit.rev).toBe(latest.rev)
    expect(asDump(await walk(car))).toEqual(changed)
    // The same diff read as a whole repository is missing most of its MST: the walk must not pass it off as one.
    expect(await failure(diff, options(did))).toBe('missing-block')
  })

  it("holds no blocks at all from the latest rev, not even the commit: 'no-root'", async () => {
    const did = seeded.dids[1]
    const { rev } = await xrpc<{ rev: string }>('com.atproto.sync.getLatestCommit', { did })
    const unchanged = await getRepo(did, rev)
    const { roots, blocks } = await readCar(unchanged)
    expect({ roots: roots.length, blocks: blocks.size }).toEqual({ roots: 1, blocks: 0 })
    expect(await failure(unchanged, options(did, { partial: true }))).toBe('no-root')
  })
})
