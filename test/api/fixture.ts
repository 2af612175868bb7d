// A small social graph for the read API tests, written through the real BatchWriter (so rows are exactly what the
// indexer would store), and a running skyfill to call through AtpAgent.
//
// The world (minutes after 2025-01-01T00:00Z; "hidden" = takendown or deactivated, never served):
//   alice.test  profile (avatar, banner, pinned a1), posts a1..a7 (a3 images, a4 external; a6 and a7 share a
//               createdAt), reply ar (to c1), repost of b2. Follows bob, frank (never seen), dave (hidden).
//   bob.test    profile; b1 replies to a1; b2 quotes a2 with images; reposts a1, a2, and d1 (hidden author).
//   carol.test  profile; c1 replies to b1; c2 replies to a post that was never indexed.
//   dave.test   takendown: profile, d1 (a reply to a1), like and repost of a1, follows alice.
//   grace.test  deactivated: follows alice.
//   erin        no handle, no profile: e1, a like of a1, follows alice; e2 created then deleted.
//   likes of a1: bob 16, carol 27, dave 28 (hidden), erin 29. reposts of a1: bob 17, carol 31, dave 32 (hidden).
import pg from 'pg'
import { AtpAgent } from '@atproto/api'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseConfig } from '../../server/config/index.js'
import { createPool } from '../../server/db/pools.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { startSkyfill, type Skyfill } from '../../server/main.js'
import type { AccountEvent, CreateOp, PipelineItem, RecordValue } from '../../server/events/index.js'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { account, create, del, identity } from '../support/ops.js'

export const POST = 'app.bsky.feed.post'
export const LIKE = 'app.bsky.feed.like'
export const REPOST = 'app.bsky.feed.repost'
export const FOLLOW = 'app.bsky.graph.follow'
export const PROFILE = 'app.bsky.actor.profile'

/** A syntactically valid did:plc (24 base32 characters) made from a short name. */
export const did = (name: string) => `did:plc:${name.padEnd(24, name[0])}`

export const ALICE = did('alice')
export const BOB = did('bob')
export const CAROL = did('carol')
export const DAVE = did('dave')
export const ERIN = did('erin')
export const FRANK = did('frank')
export const GRACE = did('grace')

/** createdAt, `minutes` after 2025-01-01T00:00Z. */
export const at = (minutes: number) => new Date(Date.UTC(2025, 0, 1) + minutes * 60_000).toISOString()

/** A blob reference as a decoded record holds it (raw-codec CID object). */
export function blob(name: string, mimeType = 'image/jpeg'): { $type: 'blob'; ref: CID; mimeType: string; size: number } {
  const digest = sha256.digest(new TextEncoder().encode(name))
  if (digest instanceof Promise) throw new Error('expected a synchronous sha256')
  return { $type: 'blob', ref: CID.createV1(0x55, digest), mimeType, size: 1000 + name.length }
}

type PostOptions = {
  createdAt: string
  reply?: { root: { uri: string; cid: string }; parent: { uri: string; cid: string } }
  embed?: RecordValue
  labels?: string[]
}

/** Builds ops with increasing seq and per-repo rev, then writes them in one batch. */
export class Fixture {
  private seq = 0
  private readonly revs = new Map<string, number>()
  private pending: PipelineItem[] = []

  private meta(did: string, collection: string, rkey: string) {
    const rev = (this.revs.get(did) ?? 0) + 1
    this.revs.set(did, rev)
    return { seq: ++this.seq, rev, did, collection, rkey }
  }

  private add<T extends PipelineItem>(item: T): T {
    this.pending.push(item)
    return item
  }

  post(did: string, rkey: string, text: string, opts: PostOptions): CreateOp {
    const record: RecordValue = { $type: POST, text, createdAt: opts.createdAt }
    if (opts.reply) record.reply = opts.reply
    if (opts.embed) record.embed = opts.embed
    if (opts.labels) record.labels = { $type: 'com.atproto.label.defs#selfLabels', values: opts.labels.map((val) => ({ val })) }
    return this.add(create(this.meta(did, POST, rkey), record))
  }

  reply(did: string, rkey: string, text: string, root: CreateOp, parent: CreateOp, createdAt: string): CreateOp {
    return this.post(did, rkey, text, { createdAt, reply: { root: ref(root), parent: ref(parent) } })
  }

  like(did: string, rkey: string, subject: { uri: string; cid: string }, createdAt: string): CreateOp {
    return this.add(create(this.meta(did, LIKE, rkey), { $type: LIKE, subject: ref(subject), createdAt }))
  }

  repost(did: string, rkey: string, subject: { uri: string; cid: string }, createdAt: string): CreateOp {
    return this.add(create(this.meta(did, REPOST, rkey), { $type: REPOST, subject: ref(subject), createdAt }))
  }

  follow(did: string, rkey: string, subject: string, createdAt: string): CreateOp {
    return this.add(create(this.meta(did, FOLLOW, rkey), { $type: FOLLOW, subject, createdAt }))
  }

  profile(did: string, fields: Record<string, unknown>): CreateOp {
    return this.add(create(this.meta(did, PROFILE, 'self'), { $type: PROFILE, ...fields }))
  }

  /** Any op, e.g. on a collection that is not indexed. */
  raw(did: string, collection: string, rkey: string, record: RecordValue): CreateOp {
    return this.add(create(this.meta(did, collection, rkey), record))
  }

  delete(op: CreateOp): void {
    this.add(del(this.meta(op.did, op.collection, op.rkey)))
  }

  handle(did: string, handle: string | null): void {
    this.add(identity(++this.seq, did, handle))
  }

  status(did: string, status: AccountEvent['status']): void {
    this.add(account(++this.seq, did, status))
  }

  reject(reason: string, category: 'record' | 'frame' = 'record'): void {
    const seq = ++this.seq
    this.add({ kind: 'reject', seq, time: at(0), did: null, uri: null, collection: null, category, reason, detail: null })
  }

  /** Writes everything built since the last write, as the indexer would, in one batch. */
  async write(databaseUrl: string): Promise<void> {
    const pool = createPool(databaseUrl, 'backfill', 2)
    try {
      await new BatchWriter(pool, 'test', ACCOUNT_ROW_LOCKS).write(this.pending, this.seq, null)
      this.pending = []
    } finally {
      await pool.end()
    }
  }
}

const ref = (op: { uri: string; cid: string }) => ({ uri: op.uri, cid: op.cid })

/** Builds the world described at the top of this file. */
export function standardWorld(fx = new Fixture()) {
  fx.handle(ALICE, 'alice.test')
  fx.handle(BOB, 'bob.test')
  fx.handle(CAROL, 'carol.test')
  fx.handle(DAVE, 'dave.test')
  fx.handle(GRACE, 'grace.test')

  const a1 = fx.post(ALICE, 'a1', 'hello world', { createdAt: at(10) })
  const a2 = fx.post(ALICE, 'a2', 'second post', { createdAt: at(20), labels: ['sexual'] })
  const a3 = fx.post(ALICE, 'a3', 'a picture', {
    createdAt: at(30),
    embed: { $type: 'app.bsky.embed.images', images: [{ image: blob('a3-image'), alt: 'a cat', aspectRatio: { width: 4, height: 3 } }] },
  })
  const a4 = fx.post(ALICE, 'a4', 'a link', {
    createdAt: at(40),
    embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/', title: 'Example', description: 'An example', thumb: blob('a4-thumb') } },
  })
  const a5 = fx.post(ALICE, 'a5', 'fifth', { createdAt: at(50) })
  const a6 = fx.post(ALICE, 'a6', 'sixth', { createdAt: at(60) })
  const a7 = fx.post(ALICE, 'a7', 'seventh, same time as sixth', { createdAt: at(60) })
  fx.profile(ALICE, {
    displayName: 'Alice',
    description: 'about Alice',
    avatar: blob('alice-avatar'),
    banner: blob('alice-banner'),
    pinnedPost: ref(a1),
    createdAt: at(1),
  })
  fx.profile(BOB, { displayName: 'Bob', description: 'about Bob', createdAt: at(1) })
  fx.profile(CAROL, { displayName: 'Carol' })
  fx.profile(DAVE, { displayName: 'Dave' })

  const b1 = fx.reply(BOB, 'b1', 'reply to a1', a1, a1, at(15))
  const c1 = fx.reply(CAROL, 'c1', 'reply to b1', a1, b1, at(25))
  const d1 = fx.reply(DAVE, 'd1', 'hidden reply to a1', a1, a1, at(26))
  const ar = fx.reply(ALICE, 'ar', 'alice replies to c1', a1, c1, at(35))
  const missing = { uri: `at://${did('zed')}/${POST}/gone`, cid: a1.cid }
  const c2 = fx.post(CAROL, 'c2', 'reply to a post never indexed', { createdAt: at(36), reply: { root: missing, parent: missing } })
  const b2 = fx.post(BOB, 'b2', 'quoting a2', {
    createdAt: at(45),
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: ref(a2) },
      media: { $type: 'app.bsky.embed.images', images: [{ image: blob('b2-image'), alt: 'b2' }] },
    },
  })
  const e1 = fx.post(ERIN, 'e1', 'erin was here', { createdAt: at(5) })
  const e2 = fx.post(ERIN, 'e2', 'erin deletes this', { createdAt: at(6) })
  fx.delete(e2)

  const likes = {
    bob: fx.like(BOB, 'la1', a1, at(16)),
    carol: fx.like(CAROL, 'la1', a1, at(27)),
    dave: fx.like(DAVE, 'la1', a1, at(28)),
    erin: fx.like(ERIN, 'la1', a1, at(29)),
  }
  const reposts = {
    bobA1: fx.repost(BOB, 'ra1', a1, at(17)),
    carolA1: fx.repost(CAROL, 'ra1', a1, at(31)),
    daveA1: fx.repost(DAVE, 'ra1', a1, at(32)),
    bobA2: fx.repost(BOB, 'ra2', a2, at(55)),
    bobD1: fx.repost(BOB, 'rd1', d1, at(56)),
    aliceB2: fx.repost(ALICE, 'rb2', b2, at(65)),
  }
  const follows = {
    bobAlice: fx.follow(BOB, 'fa', ALICE, at(1)),
    carolAlice: fx.follow(CAROL, 'fa', ALICE, at(2)),
    daveAlice: fx.follow(DAVE, 'fa', ALICE, at(3)),
    erinAlice: fx.follow(ERIN, 'fa', ALICE, at(4)),
    graceAlice: fx.follow(GRACE, 'fa', ALICE, at(5)),
    aliceBob: fx.follow(ALICE, 'fb', BOB, at(6)),
    aliceFrank: fx.follow(ALICE, 'ff', FRANK, at(7)),
    aliceDave: fx.follow(ALICE, 'fd', DAVE, at(8)),
  }
  fx.status(DAVE, 'takendown')
  fx.status(GRACE, 'deactivated')
  return { fx, posts: { a1, a2, a3, a4, a5, a6, a7, ar, b1, b2, c1, c2, d1, e1, e2 }, likes, reposts, follows }
}

export type World = ReturnType<typeof standardWorld>

export type TestServer = { db: TestDatabase; skyfill: Skyfill; agent: AtpAgent; url: string; close(): Promise<void> }

/** A fresh database, optionally seeded, and skyfill serving it (no relay: backfill and firehose off). */
export async function startServer(seed?: (databaseUrl: string) => Promise<void>): Promise<TestServer> {
  const db = await testDatabase()
  if (seed) await seed(db.url)
  const skyfill = await startSkyfill(
    parseConfig({ DATABASE_URL: db.url, PORT: String(await freePort()), HOST: '127.0.0.1', FIREHOSE_ENABLED: 'false' }),
    () => {},
  )
  return {
    db,
    skyfill,
    agent: new AtpAgent({ service: skyfill.url }),
    url: skyfill.url,
    async close() {
      await skyfill.stop()
      await db.drop()
    },
  }
}

/** A standard world, written, and a server for it. */
export async function startWorld(): Promise<TestServer & { world: World }> {
  const world = standardWorld()
  const server = await startServer((url) => world.fx.write(url))
  return { ...server, world }
}

/** A plain query against the test database (for setup a test does after the server started). */
export async function sql(databaseUrl: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return await client.query(text, params)
  } finally {
    await client.end()
  }
}

/** GET a path and return status, headers and the parsed JSON body. */
export async function getJson(base: string, path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${base}${path}`, init)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body }
}
