import { lexicons } from '@atproto/api'
import { decode } from '@atproto/lex-cbor'
import { readCarWithRoot, verifyProofs } from '@atproto/repo'
import { beforeAll, expect, test } from 'vitest'
import { type GeneratedFrame, generateFrames, type PlannedWrite } from '../../../bench/source/generator.js'
import { decodeFrame } from './helpers.js'

const START = new Date('2024-03-01T00:00:00.000Z')
const TEN_DAYS_MS = 10 * 24 * 3600 * 1000
const OPTIONS = { seed: 'synthetic-generator', accounts: 12, events: 400, startTime: START, spacingMs: TEN_DAYS_MS / 400, workers: 0 }
let frames: GeneratedFrame[]

beforeAll(async () => {
  frames = await generateFrames(OPTIONS)
})

const commits = () => frames.filter((f) => f.type === '#commit').map((f) => ({ frame: f, body: decodeFrame(f.bytes).body }))

test('the same seed generates byte-identical frames', async () => {
  const again = await generateFrames(OPTIONS)
  expect(again.map((f) => Buffer.from(f.bytes).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f.bytes).toString('hex')))
})

test('a different seed generates different repos', async () => {
  const other = await generateFrames({ ...OPTIONS, seed: 'another-seed', events: 50 })
  expect(other[0].did).not.toBe(frames[0].did)
})

test('worker threads generate the same bytes as inline generation', async () => {
  const small = { ...OPTIONS, events: 120 }
  const inline = await generateFrames(small)
  const threaded = await generateFrames({ ...small, workers: 2 })
  expect(threaded.map((f) => Buffer.from(f.bytes).toString('hex'))).toEqual(inline.map((f) => Buffer.from(f.bytes).toString('hex')))
})

test('frames carry seqs 1..events in order', () => {
  expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1))
  expect(frames.map((f) => decodeFrame(f.bytes).body.seq)).toEqual(frames.map((f) => f.seq))
})

test('the time of frame i is startTime + i*spacingMs, spreading the workload over ten days', () => {
  const expected = frames.map((_, i) => new Date(START.getTime() + i * OPTIONS.spacingMs).toISOString())
  expect(frames.map((f) => decodeFrame(f.bytes).body.time)).toEqual(expected)
  expect(Date.parse(frames.at(-1)!.time) - Date.parse(frames[0].time)).toBeCloseTo(TEN_DAYS_MS - OPTIONS.spacingMs, -3)
})

test('every record the generator writes is valid against its app.bsky lexicon', () => {
  const written = frames.flatMap((f) => f.writes ?? []).flatMap((w) => (w.action === 'delete' ? [] : [w.record]))
  expect(written.length).toBeGreaterThan(200)
  for (const record of written) expect(() => lexicons.assertValidRecord(record.$type, record)).not.toThrow()
})

test('every commit is signed by its account key and carries MST proofs of its ops', async () => {
  const keys = new Map(frames.flatMap((f) => (f.account ? [[f.did, f.account.signingKey]] : [])))
  for (const { frame, body } of commits()) {
    const ops = body.ops as { path: string; cid: unknown }[]
    const claims = ops.map((op) => ({ collection: op.path.split('/')[0], rkey: op.path.split('/')[1], cid: op.cid }))
    const result = await verifyProofs(body.blocks as Uint8Array, claims as never, frame.did, keys.get(frame.did)!)
    expect(result.unverified).toEqual([])
    expect(result.verified).toHaveLength(frame.writes!.length)
  }
})

test('commits of one repo chain: since is the previous rev and prevData the previous data root', async () => {
  const last = new Map<string, { rev: string; data: string }>()
  for (const { frame, body } of commits()) {
    const car = await readCarWithRoot(body.blocks as Uint8Array)
    const commit = decode(car.blocks.get(car.root)!) as unknown as { data: { toString(): string } }
    const prev = last.get(frame.did)
    expect(body.since ?? null).toBe(prev?.rev ?? null)
    expect(body.prevData?.toString()).toBe(prev?.data)
    if (prev) expect((body.rev as string) > prev.rev).toBe(true)
    last.set(frame.did, { rev: body.rev as string, data: commit.data.toString() })
  }
})

test('about 45% of commits like, 25% post, 10% repost, 10% follow and 5% delete', () => {
  const firstWrites = frames.flatMap((f) => (f.writes?.length ? [f.writes[0]] : []))
  const share = (match: (w: PlannedWrite) => boolean) => firstWrites.filter(match).length / firstWrites.length
  const created = (collection: string) => (w: PlannedWrite) => w.action === 'create' && w.collection === collection
  expect(share(created('app.bsky.feed.like'))).toBeGreaterThan(0.35)
  expect(share(created('app.bsky.feed.like'))).toBeLessThan(0.55)
  expect(share(created('app.bsky.feed.post'))).toBeGreaterThan(0.18)
  expect(share(created('app.bsky.feed.post'))).toBeLessThan(0.33)
  for (const collection of ['app.bsky.feed.repost', 'app.bsky.graph.follow']) {
    expect(share(created(collection))).toBeGreaterThan(0.05)
    expect(share(created(collection))).toBeLessThan(0.16)
  }
  expect(share((w) => w.action === 'delete')).toBeGreaterThan(0.02)
  expect(share((w) => w.action === 'delete')).toBeLessThan(0.1)
})

test('posts include replies, quote embeds, external embeds, facets and langs', () => {
  const posts = frames.flatMap((f) => f.writes ?? []).flatMap((w) => (w.action === 'create' && w.collection === 'app.bsky.feed.post' ? [w.record] : []))
  const embedTypes = new Set(posts.map((p) => (p.embed as { $type?: string } | undefined)?.$type))
  expect(posts.some((p) => p.reply)).toBe(true)
  expect(embedTypes).toEqual(new Set([undefined, 'app.bsky.embed.record', 'app.bsky.embed.external']))
  expect(posts.some((p) => p.facets)).toBe(true)
  expect(posts.some((p) => p.langs)).toBe(true)
})

test('an account that unlikes a post likes the same post again later', () => {
  const subjects = new Map<string, string>()
  const unliked = new Set<string>()
  let relikes = 0
  for (const frame of frames) {
    for (const w of frame.writes ?? []) {
      if (w.collection !== 'app.bsky.feed.like') continue
      const key = `${frame.did}/${w.rkey}`
      if (w.action === 'delete') unliked.add(`${frame.did} ${subjects.get(key)}`)
      if (w.action !== 'create') continue
      const subject = (w.record.subject as { uri: string }).uri
      if (unliked.has(`${frame.did} ${subject}`)) relikes++
      subjects.set(key, subject)
    }
  }
  expect(relikes).toBeGreaterThan(0)
})

test('every account is announced by #identity with its handle, #account active, an empty first commit and #sync', () => {
  for (const [i, frame] of frames.entries()) {
    if (!frame.account) continue
    const [identity, account, commit, sync] = frames.slice(i, i + 4).map((f) => decodeFrame(f.bytes))
    expect(identity.body).toMatchObject({ did: frame.did, handle: frame.account.handle })
    expect([account.header.t, account.body.active]).toEqual(['#account', true])
    expect([commit.header.t, commit.body.ops, commit.body.since]).toEqual(['#commit', [], null])
    expect([sync.header.t, sync.body.rev]).toEqual(['#sync', commit.body.rev])
  }
})

test('the workload ends with #account frames taking accounts down, deactivating and deleting them', () => {
  const tail = frames.slice(-3).map((f) => decodeFrame(f.bytes))
  expect(tail.map((f) => [f.header.t, f.body.active, f.body.status])).toEqual([
    ['#account', false, 'deactivated'],
    ['#account', false, 'takendown'],
    ['#account', false, 'deleted'],
  ])
})
