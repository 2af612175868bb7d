// A big, realistic, signed repository CAR on disk for memory and throughput tests: N app.bsky records (posts,
// likes, follows and one profile, all valid lexicon shapes) with TID rkeys, from a deterministic seed, cached
// under os.tmpdir() by N and seed so that only the first run pays for it. Blocks are written commit first, then
// records in creation order, then MST nodes: not key order, so a walk has to seek as it would in a real CAR.
import { createHash } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { TID } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import { createRng } from '../harness/seed.js'
import { type Block, buildMst, carHeader, carSection, cborBlock, commitBlock } from './repo-car-builder.js'

export type BigRepo = {
  file: string
  did: string
  /** did:key of the commit's signing key */
  signingKey: string
  rev: string
  records: number
  /** records per collection */
  counts: Record<string, number>
  bytes: number
  /** how long this call took: generation on a cache miss, a read of the sidecar on a hit */
  ms: number
  cached: boolean
}

const FORMAT = 1
const WRITE_BATCH_BYTES = 4 * 1024 * 1024

export async function bigRepoCar(records: number, seed: number): Promise<BigRepo> {
  const t0 = performance.now()
  const file = path.join(os.tmpdir(), `skyfill-big-repo-v${FORMAT}-${records}-${seed}.car`)
  const sidecar = `${file}.json`
  if (existsSync(file) && existsSync(sidecar)) {
    const meta = JSON.parse(readFileSync(sidecar, 'utf8')) as Omit<BigRepo, 'ms' | 'cached' | 'file'>
    return { ...meta, file, ms: Math.round(performance.now() - t0), cached: true }
  }
  const seedHash = createHash('sha256').update(`skyfill-big-repo-${seed}`).digest()
  const keypair = await Secp256k1Keypair.import(seedHash.toString('hex'))
  const did = `did:plc:${base32(seedHash.subarray(0, 15))}`
  const rng = createRng(seed)
  const startUs = Date.UTC(2023, 0, 1) * 1000
  let clockUs = startUs
  const recordBlocks: Block[] = []
  const leaves: { key: string; cid: Block['cid'] }[] = []
  const counts: Record<string, number> = {}
  const posts: { uri: string; cid: string }[] = []
  const add = (collection: string, rkey: string, record: unknown) => {
    const block = cborBlock(record)
    recordBlocks.push(block)
    leaves.push({ key: `${collection}/${rkey}`, cid: block.cid })
    counts[collection] = (counts[collection] ?? 0) + 1
    return block
  }
  add('app.bsky.actor.profile', 'self', { $type: 'app.bsky.actor.profile', displayName: `Big repo ${seed}`, description: 'generated for tests' })
  for (let i = 1; i < records; i++) {
    clockUs += rng.int(1, 5_000_000)
    const rkey = TID.fromTime(clockUs, rng.int(0, 31)).toString()
    const createdAt = new Date(Math.floor(clockUs / 1000)).toISOString()
    const kind = rng.next()
    if (kind < 0.3 || posts.length === 0) {
      const text = `post ${i} ${'lorem ipsum '.repeat(rng.int(0, 12))}`.trim()
      const block = add('app.bsky.feed.post', rkey, { $type: 'app.bsky.feed.post', text, langs: ['en'], createdAt })
      posts.push({ uri: `at://${did}/app.bsky.feed.post/${rkey}`, cid: block.cid.toString() })
    } else if (kind < 0.8) {
      add('app.bsky.feed.like', rkey, { $type: 'app.bsky.feed.like', subject: rng.pick(posts), createdAt })
    } else {
      const subject = `did:plc:${base32(createHash('sha256').update(`f${i}`).digest().subarray(0, 15))}`
      add('app.bsky.graph.follow', rkey, { $type: 'app.bsky.graph.follow', subject, createdAt })
    }
  }
  leaves.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  const nodes: Block[] = []
  const data = buildMst(leaves, (node) => nodes.push(node))
  const rev = TID.fromTime(clockUs + 1, 0).toString()
  const commit = await commitBlock({ did, data, rev }, keypair)

  const partial = `${file}.${process.pid}.tmp`
  const fd = openSync(partial, 'w')
  let batch: Uint8Array[] = []
  let batched = 0
  let bytes = 0
  const write = (piece: Uint8Array, flush = false) => {
    batch.push(piece)
    batched += piece.length
    if (batched < WRITE_BATCH_BYTES && !flush) return
    const out = Buffer.concat(batch)
    writeSync(fd, out)
    bytes += out.length
    batch = []
    batched = 0
  }
  try {
    write(carHeader(commit.cid))
    write(carSection(commit))
    for (const block of recordBlocks) write(carSection(block))
    for (const node of nodes) write(carSection(node))
    write(new Uint8Array(0), true)
  } finally {
    closeSync(fd)
  }
  renameSync(partial, file)
  const meta = { did, signingKey: keypair.did(), rev, records, counts, bytes }
  writeFileSync(sidecar, JSON.stringify(meta))
  return { ...meta, file, ms: Math.round(performance.now() - t0), cached: false }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

function base32(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return bits > 0 ? out + BASE32[(value << (5 - bits)) & 31] : out
}
