// Bad frames between good ones: each is counted, kept in the rejects table with its seq and a reason, logged once
// per kind, the good records of the same commit are still indexed, and the backfill reaches the head. The stream
// is a generated workload (real signed commits) with hand-built bad frames spliced in and every frame renumbered.
import { cidForLex } from '@atproto/lex-cbor'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateFrames } from '../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import type { StoredFrame } from '../../bench/source/store.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'
import { accountFrame, commitFrame, identityFrame, renumber, seqOf, type Write } from './support/commits.js'
import { seedRun, startRun, type Run } from './support/run.js'
import { groundTruth, readState } from './support/truth.js'

const DID = 'did:plc:faultsfaultsfaultsfaults'
const OTHER = 'did:plc:abcdefghijklmnopqrstuvwx'
const T = '2025-01-01T12:00:00.000Z'
let CID: string

let frames: StoredFrame[]
let source: SyntheticFirehose
let db: TestDatabase
let run: Run
/** The seq each bad frame got, by name. */
const at: Record<string, number> = {}
/** Good records that share a commit with a bad one: each must be indexed. */
const goodUris: { table: string; uri: string }[] = []

let rkeys = 0
const rkey = () => `3kfaults${String(++rkeys).padStart(5, '0')}`

function like(): Write & { action: 'create' } {
  return { action: 'create', collection: 'app.bsky.feed.like', rkey: rkey(), record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${OTHER}/app.bsky.feed.post/3kaaaaaaaaaaa`, cid: CID }, createdAt: T } }
}
function post(text = 'a good post', extra: Record<string, unknown> = {}): Write & { action: 'create' } {
  return { action: 'create', collection: 'app.bsky.feed.post', rkey: rkey(), record: { $type: 'app.bsky.feed.post', text, createdAt: T, ...extra } }
}
function follow(subject: string = OTHER): Write & { action: 'create' } {
  return { action: 'create', collection: 'app.bsky.graph.follow', rkey: rkey(), record: { $type: 'app.bsky.graph.follow', subject, createdAt: T } }
}
function repost(): Write & { action: 'create' } {
  return { action: 'create', collection: 'app.bsky.feed.repost', rkey: rkey(), record: { $type: 'app.bsky.feed.repost', subject: { uri: `at://${OTHER}/app.bsky.feed.post/3kaaaaaaaaaab`, cid: CID }, createdAt: T } }
}
const TABLES: Record<string, string> = {
  'app.bsky.feed.like': 'likes',
  'app.bsky.feed.post': 'posts',
  'app.bsky.graph.follow': 'follows',
  'app.bsky.feed.repost': 'reposts',
}
/** A commit of `bad` plus a good write, whose URI is remembered. */
async function mixed(name: string, bad: Write, good: Write & { action: 'create' }): Promise<[string, Uint8Array]> {
  goodUris.push({ table: TABLES[good.collection]!, uri: `at://${DID}/${good.collection}/${good.rkey}` })
  return [name, await commitFrame({ seq: 1, did: DID, writes: [good, bad] })]
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true }
  for (let i = 0; i < depth; i++) value = { inner: value }
  return value
}

beforeAll(async () => {
  CID = (await cidForLex({ faults: true })).toString()
  const base = await generateFrames({ seed: 'faults-bad', accounts: 6, events: 240, workers: 0, endStatuses: { deactivated: 0, takendown: 0, deleted: 0 } })
  const bad: [string, Uint8Array][] = [
    ['identity', identityFrame(1, DID, 'faults.skyfill.test')],
    ['account', accountFrame(1, DID)],
    // A CAR whose header says it is longer than it is: the whole commit is unreadable, so both its ops are rejects.
    ['brokenCar', await commitFrame({ seq: 1, did: DID, writes: [like(), post()], blocks: Uint8Array.of(0x3a, 0xa2, 0x65, 0x72, 0x6f) })],
    await mixed('wrongType', { ...like(), record: { $type: 'app.bsky.feed.post', text: 'a post filed as a like', createdAt: T } }, like()),
    await mixed('badCreatedAt', { ...like(), record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${OTHER}/app.bsky.feed.post/3kaaaaaaaaaaa`, cid: CID }, createdAt: 'yesterday at noon' } }, post()),
    await mixed('badDid', follow('not a did'), follow()),
    await mixed('longText', post('word '.repeat(400)), like()),
    await mixed('deep', post('deep', { embed: { $type: 'app.bsky.embed.external', external: nested(100) } }), repost()),
    await mixed('unknownCollection', { action: 'create', collection: 'com.example.faults.thing', rkey: rkey(), record: { $type: 'com.example.faults.thing', createdAt: T } }, like()),
    // The same kind of fault again, later: counted and kept again, but not logged again.
    await mixed('badCreatedAt2', { ...like(), record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${OTHER}/app.bsky.feed.post/3kaaaaaaaaaaa`, cid: CID }, createdAt: 'the day after' } }, follow('did:plc:zyxwvutsrqponmlkjihgfedc')),
  ]
  // Spread the bad frames through the stream, one every 20 good frames.
  const names: (string | null)[] = []
  const spliced: Uint8Array[] = []
  base.forEach((frame, i) => {
    spliced.push(frame.bytes)
    names.push(null)
    const next = bad[Math.floor(i / 20)]
    if (i % 20 === 19 && next) {
      spliced.push(next[1])
      names.push(next[0])
    }
  })
  frames = renumber(spliced)
  names.forEach((name, i) => {
    if (name) at[name] = frames[i]!.seq
  })
  // A truncated frame (half a good commit: no readable seq) after two points of the stream.
  const truncated = frames[100]!.bytes.subarray(0, Math.floor(frames[100]!.bytes.length / 2))
  at.truncated1 = 50
  at.truncated2 = 170
  source = await startSyntheticFirehose({ frames, faults: { inject: [{ afterSeq: at.truncated1, bytes: truncated }, { afterSeq: at.truncated2, bytes: truncated }] } })
  db = await testDatabase()
  await seedRun(db.url, { relay: source.url, headSeq: source.headSeq, cursor: 0 })
  // Small batches: the faults land in different batches, so "logged once per kind" holds across batches too.
  run = await startRun(source.url, db.url, { BACKFILL_BATCH_SIZE: '10' })
  await run.sky.backfill.whenDone()
}, 60_000)

afterAll(async () => {
  await run?.close()
  await source?.close()
  await db?.drop()
})

type RejectRow = { seq: string; seq_known: boolean; category: string; reason: string; uri: string | null }
async function rejects(): Promise<RejectRow[]> {
  const { rows } = await run.pool.query<RejectRow>(
    // #sync events are kept there too (category 'sync'), as a record of what each did, not as bad input
    `SELECT seq, seq_known, category, reason, uri FROM rejects WHERE category NOT IN ('unsupported', 'sync') ORDER BY seq, id`,
  )
  return rows
}

const uriIn = (rows: RejectRow[], seq: number) => rows.filter((r) => Number(r.seq) === seq).map((r) => r.uri)
const reject = (name: string, category: string, reason: RegExp) => ({ name, category, reason })
/** Every bad thing in the stream, the reject it must leave, and the line that tells of its kind. */
const EXPECTED = [
  reject('truncated1', 'frame', /^frame is not two DAG-CBOR values: /),
  reject('brokenCar', 'car', /^commit CAR unreadable: CAR header declares \d+ bytes but only \d+ remain/),
  reject('wrongType', 'record', /^invalid record: \$type "app\.bsky\.feed\.post" does not match collection "app\.bsky\.feed\.like"$/),
  reject('badCreatedAt', 'record', /^invalid record: Record\/createdAt must be an valid atproto datetime/),
  reject('badDid', 'record', /^invalid record: Record\/subject must be a valid did$/),
  reject('longText', 'record', /^invalid record: Record\/text must not be longer than 300 graphemes$/),
  reject('deep', 'record', /^invalid record: nested deeper than 64 levels$/),
  reject('truncated2', 'frame', /^frame is not two DAG-CBOR values: /),
  reject('badCreatedAt2', 'record', /^invalid record: Record\/createdAt must be an valid atproto datetime/),
]

describe('bad frames between good ones', () => {
  it('the backfill reaches the head and its tables equal a sequential replay of the same frames', async () => {
    const p = run.progress()
    expect(p.state).toBe('complete')
    expect(p.cursor).toBe(source.headSeq)
    expect(await readState(run.pool)).toEqual(await groundTruth(frames))
  })

  it('counts each bad frame and bad record as invalid, and the op on an unknown collection as unindexed', async () => {
    const p = run.progress()
    // two truncated frames, one op each for the two ops of the broken CAR, six bad records
    expect(p.counts.invalid).toBe(10)
    expect(p.counts.unindexed).toBe(1)
    const { rows } = await run.pool.query(`SELECT collection, ops::int, last_seq::int FROM unindexed_collections`)
    expect(rows).toEqual([{ collection: 'com.example.faults.thing', ops: 1, last_seq: at.unknownCollection }])
  })

  it('keeps each in the rejects table with its seq, its category and a reason naming what is wrong', async () => {
    const rows = await rejects()
    const brokenCarOps = 2
    expect(rows).toHaveLength(EXPECTED.length + brokenCarOps - 1)
    for (const e of EXPECTED) {
      const mine = rows.filter((r) => Number(r.seq) === at[e.name] && r.category === e.category)
      expect(mine.length, e.name).toBeGreaterThan(0)
      for (const r of mine) expect(r.reason, e.name).toMatch(e.reason)
    }
    // Record rejects name the record; the broken CAR names both ops it could not read.
    expect(uriIn(rows, at.wrongType!)).toEqual([expect.stringMatching(new RegExp(`^at://${DID}/app\\.bsky\\.feed\\.like/`))])
    expect(uriIn(rows, at.brokenCar!)).toHaveLength(2)
  })

  it('keeps a frame too broken to tell its seq with the seq of the frame before it, marked as not its own', async () => {
    const rows = (await rejects()).filter((r) => r.category === 'frame')
    expect(rows.map((r) => [Number(r.seq), r.seq_known])).toEqual([
      [at.truncated1, false],
      [at.truncated2, false],
    ])
  })

  it('logs each kind of reject once, however often it occurs and in whichever batch', () => {
    const rejected = run.matching(/\[BACKFILL\] Rejected \(/)
    for (const e of EXPECTED) {
      const lines = rejected.filter((l) => l.includes(`Rejected (${e.category}) at seq `) && e.reason.test(l.replace(/^.*?at seq \d+: /, '').replace(/ \[first of its kind.*$/, '')))
      expect(lines, e.name).toHaveLength(1)
    }
    // 9 bad things above, of 7 kinds (the second truncated frame and the second bad createdAt are repeats)
    expect(rejected).toHaveLength(7)
    expect(rejected.find((l) => /Record\/createdAt/.test(l))).toContain(`at seq ${at.badCreatedAt}: `)
  })

  it('still indexes the good records that share a commit with a bad one', async () => {
    for (const { table, uri } of goodUris) {
      const { rows } = await run.pool.query(`SELECT uri FROM ${table} WHERE uri = $1`, [uri])
      expect(rows, uri).toHaveLength(1)
    }
    expect(goodUris).toHaveLength(7)
  })

  it('writes nothing for the bad records themselves', async () => {
    const { rows } = await run.pool.query(
      `SELECT uri FROM posts WHERE did = $1 UNION ALL SELECT uri FROM likes WHERE did = $1
       UNION ALL SELECT uri FROM follows WHERE did = $1 UNION ALL SELECT uri FROM reposts WHERE did = $1`,
      [DID],
    )
    expect(rows.map((r) => r.uri).sort()).toEqual(goodUris.map((g) => g.uri).sort())
  })
})
