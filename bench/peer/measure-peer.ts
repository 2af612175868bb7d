// `npm run bench -- --peer`: Bluesky's own appview indexer on the bench's own footing, to put its rate beside ours.
// The same embedded Postgres cluster (a database of its own, dropped afterwards), the same synthetic firehose
// serving the same cached workload through the same relay, cut to its first events: the peer needs minutes per
// 50,000 events, so it gets a subset and a time bound, and its rate is read over the events it handled.
//
// Identity is the one thing set up differently from our server, whose PLC URL answers "not found" for every DID:
// our server resolves identities in the background and never waits on them, but the peer resolves each new actor
// inline and keeps no actor it could not resolve, so against that URL it would look every DID up again on every
// event. plc-stub.ts serves it the workload's identities instead, as a live network would: the peer pays one DID
// and one handle lookup per actor (and per #identity event), over HTTP, as in production.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Variant } from '../run/modes.js'
import { ROOT } from '../run/paths.js'
import { DB_PREFIX, type BenchCluster } from '../run/postgres.js'
import { startSource } from '../run/source.js'
import type { WorkloadStore } from '../source/store.js'
import { startPlcStub, type PlcStub } from './plc-stub.js'
import { recordOpsUpTo } from './record-ops.js'
import { runPeer, type PeerResult } from './run-peer.js'

/** The first `events` events of the workload, at most `timeLimitS` seconds of the peer's run. */
export const PEER_SUBSETS: Record<Variant, { events: number; timeLimitS: number }> = {
  quick: { events: 10_000, timeLimitS: 120 },
  full: { events: 50_000, timeLimitS: 300 },
}

/** Seconds the peer may take beyond its time bound: its migrations, the drain of its queued work, stopping. */
export const PEER_OVERHEAD_S = 240

export type PeerReport = PeerResult & {
  peer: string
  database: string
  subset: { events: number; timeLimitS: number }
  /** Lookups the peer made against the PLC stub (plc-stub.ts). */
  identityRequests: ReturnType<PlcStub['requests']>
}

export type PeerContext = { cluster: BenchCluster; store: WorkloadStore; variant: Variant; say: (line: string) => void }

function bskyVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/@atproto/bsky/package.json'), 'utf8')) as { version: string }
  return `@atproto/bsky ${pkg.version} RepoSubscription`
}

export async function measurePeer(ctx: PeerContext): Promise<PeerReport> {
  const subset = { ...PEER_SUBSETS[ctx.variant], events: Math.min(PEER_SUBSETS[ctx.variant].events, ctx.store.headSeq) }
  const database = `${DB_PREFIX}peer`
  const databaseUrl = await ctx.cluster.createDatabase(database)
  const source = await startSource(ctx.store.path, subset.events)
  const plc = await startPlcStub(ctx.store.manifest.accounts)
  try {
    ctx.say(`peer: ${bskyVersion()}, the first ${subset.events.toLocaleString('en-US')} events, at most ${subset.timeLimitS} s (migrating its schema first)`)
    let lastSaid = 0
    const result = await runPeer({
      databaseUrl,
      firehoseUrl: source.url,
      plcUrl: plc.url,
      ...subset,
      recordsUpTo: (seq) => recordOpsUpTo(ctx.store.frames(0), seq),
      postgresPid: ctx.cluster.postmasterPid(),
      onProgress: (seconds, handled) => {
        if (seconds - lastSaid < 15) return
        lastSaid = seconds
        ctx.say(`peer: ${handled.toLocaleString('en-US')} events handled after ${seconds.toFixed(0)} s`)
      },
    })
    ctx.say(`peer: ${result.events.toLocaleString('en-US')} events in ${result.seconds.toFixed(1)} s, ${result.eventsPerSecond.toFixed(0)} events/s, ${result.recordsPerSecond.toFixed(0)} records/s; ${result.rows.post} posts, ${result.rows.like} likes, ${result.rows.follow} follows indexed`)
    return { peer: bskyVersion(), database, subset, identityRequests: plc.requests(), ...result }
  } finally {
    await source.close()
    await plc.close()
    await ctx.cluster.dropDatabase(database)
  }
}
