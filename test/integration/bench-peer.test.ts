// `npm run bench -- --peer` puts Bluesky's own appview indexer beside ours; its figures are only worth a ratio if
// it really indexed the replayed events. Here the peer runner replays a small synthetic workload into a fresh
// database and must end with every event handled, the workload's live posts, likes and follows in its tables,
// the account the workload deletes gone again, and positive rates.
import { decodeAll } from '@atproto/lex-cbor'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordOpsUpTo } from '../../bench/peer/record-ops.js'
import { startPlcStub, type PlcStub } from '../../bench/peer/plc-stub.js'
import { PEER_SCHEMA, runPeer, type PeerResult } from '../../bench/peer/run-peer.js'
import { generateFrames, type GeneratedFrame } from '../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'

const EVENTS = 600
let frames: GeneratedFrame[]
let db: TestDatabase
let source: SyntheticFirehose
let plc: PlcStub
let result: PeerResult

/** The accounts the workload ends by deleting (an #account frame with status 'deleted'). */
function deletedDids(): Set<string> {
  const dids = new Set<string>()
  for (const frame of frames.filter((f) => f.type === '#account')) {
    const [, body] = decodeAll(frame.bytes) as Generator<{ did?: string; status?: string }>
    if (body?.status === 'deleted' && body.did) dids.add(body.did)
  }
  return dids
}

/** Records alive at the end of the workload, by collection, the deleted accounts' aside: what the peer must hold. */
function liveRecords(): Map<string, number> {
  const alive = new Map<string, string>()
  const deleted = deletedDids()
  for (const frame of frames.filter((f) => !deleted.has(f.did))) {
    for (const w of frame.writes ?? []) {
      const uri = `${frame.did}/${w.collection}/${w.rkey}`
      if (w.action === 'delete') alive.delete(uri)
      else alive.set(uri, w.collection)
    }
  }
  const counts = new Map<string, number>()
  for (const collection of alive.values()) counts.set(collection, (counts.get(collection) ?? 0) + 1)
  return counts
}

beforeAll(async () => {
  frames = await generateFrames({ seed: 'peer', accounts: 12, events: EVENTS, endStatuses: { deactivated: 0, takendown: 0, deleted: 1 } })
  db = await testDatabase()
  source = await startSyntheticFirehose({ frames })
  plc = await startPlcStub(frames.flatMap((f) => (f.account ? [f.account] : [])))
  result = await runPeer({
    databaseUrl: db.url,
    firehoseUrl: source.url,
    plcUrl: plc.url,
    events: EVENTS,
    timeLimitS: 30,
    recordsUpTo: (seq) => recordOpsUpTo(frames, seq),
    poolSize: 4,
  })
}, 120_000)

afterAll(async () => {
  await source?.close()
  await plc?.close()
  await db?.drop()
})

describe('the peer runner', () => {
  it('handles every event of the workload within its time limit and reports positive rates', () => {
    expect(result.completed).toBe(true)
    expect(result.events).toBe(EVENTS)
    expect(result.cursor).toBe(EVENTS)
    expect(result.eventsPerSecond).toBeGreaterThan(0)
    expect(result.eventsPerSecond).toBeCloseTo(EVENTS / result.seconds, 6)
    expect(result.recordsPerSecond).toBeGreaterThan(0)
    expect(result.cpuSeconds).toBeGreaterThan(0)
  })

  it('counts as records every create, update and delete the workload sent', () => {
    expect(result.records).toBe(frames.reduce((n, f) => n + (f.writes?.length ?? 0), 0))
  })

  it('leaves the live posts, likes and follows of the workload in its own tables', () => {
    const live = liveRecords()
    expect(result.rows.post).toBe(live.get('app.bsky.feed.post'))
    expect(result.rows.like).toBe(live.get('app.bsky.feed.like'))
    expect(result.rows.follow).toBe(live.get('app.bsky.graph.follow'))
    expect(result.rows.post).toBeGreaterThan(0)
  })

  it('resolves the actors against the stub, handles verified, once per actor rather than once per event', async () => {
    const accounts = frames.filter((f) => f.account).length
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { rows } = await client.query<{ did: string; handle: string | null }>(`SELECT did, handle FROM ${PEER_SCHEMA}.actor`)
      expect(rows).toHaveLength(accounts - deletedDids().size)
      expect(rows.filter((r) => r.handle !== null).length).toBeGreaterThan(0)
    } finally {
      await client.end()
    }
    const requests = plc.requests()
    expect(requests.notFound).toBe(0)
    // The deleted account: the peer asks its PDS whether the repo is still hosted, and drops it.
    expect(requests.latestCommits).toBe(deletedDids().size)
    expect(requests.didDocuments).toBeLessThan(EVENTS / 4)
  })
})
