// The peer, Bluesky's own appview indexer (`RepoSubscription` of @atproto/bsky's data plane), as a child process
// of the bench, so /proc/<pid> measures it alone and its global pg settings (bigint parsing) stay out of the bench.
// Set up as the bsky data plane sets it up: its Database with its migrations in a schema of its own, an
// IdResolver at a PLC directory (plc-stub.ts), the subscription on the firehose from cursor 0. Driven over IPC by
// run-peer.ts: 'start' subscribes, 'progress' answers with the counts below and the cursor (the last seq before
// which every event was handled), 'drain' waits (a bounded time) for the indexer's queued work, its background
// aggregates, to finish, and 'stop' ends it (also bounded).
import { setTimeout as sleep } from 'node:timers/promises'
import { Database, RepoSubscription } from '@atproto/bsky'
import { IdResolver } from '@atproto/identity'
import { MemoryRunner } from '@atproto/sync'
import { HANDLE_PATH } from './plc-stub.js'

export type PeerChildOptions = { databaseUrl: string; schema: string; poolSize: number; firehoseUrl: string; plcUrl: string }
export type PeerRequest = { type: 'start' } | { type: 'progress' } | { type: 'drain'; limitMs: number } | { type: 'stop'; limitMs: number }
export type PeerReply =
  | { type: 'ready'; migrations: number }
  /** `received`: events taken off the firehose; `handled`: events whose handler finished, in any order. */
  | { type: 'progress'; cursor: number; received: number; handled: number }
  /** `complete`: the queued work finished within the limit. */
  | { type: 'drained'; complete: boolean }
  | { type: 'stopped' }
  | { type: 'error'; message: string }

const send = (reply: PeerReply) => process.send!(reply)

/**
 * The peer takes every event off the firehose at once and handles them concurrently, each actor's events in
 * order; its cursor only passes an event once all before it are done, so one slow actor holds it back
 * while thousands of later events are finished. Counting each event as its handler finishes measures the work done.
 * The counts wrap the runner the subscription creates (@atproto/sync's MemoryRunner) and change nothing it does.
 */
const counts = { received: 0, handled: 0 }
const trackEvent = MemoryRunner.prototype.trackEvent
MemoryRunner.prototype.trackEvent = function (this: MemoryRunner, did, seq, handler) {
  counts.received++
  return trackEvent.call(this, did, seq, async () => {
    await handler()
    counts.handled++
  })
}

/**
 * Handles have no DNS of their own here: the peer's handle check over HTTPS (`https://<handle>/.well-known/
 * atproto-did`) goes to the stub instead, so a handle verifies as it would on the network. Every other URL the
 * peer fetches (the PLC stub, as the accounts' PDS) is on 127.0.0.1, which the default fetch refuses.
 */
function localFetch(plcUrl: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input)
    if (url.protocol === 'https:' && url.pathname === HANDLE_PATH) {
      return fetch(`${plcUrl}${HANDLE_PATH}?handle=${encodeURIComponent(url.hostname)}`, init)
    }
    return fetch(input, init)
  }
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '') as PeerChildOptions
  const migrationDb = new Database({ url: opts.databaseUrl, schema: opts.schema, poolSize: 1 })
  const migrations = await migrationDb.migrateToLatestOrThrow()
  await migrationDb.close()
  const db = new Database({ url: opts.databaseUrl, schema: opts.schema, poolSize: opts.poolSize })
  const idResolver = new IdResolver({ plcUrl: opts.plcUrl, fetch: localFetch(opts.plcUrl) })
  const sub = new RepoSubscription({ service: opts.firehoseUrl, db, idResolver })
  process.on('message', (msg: PeerRequest) => {
    void (async () => {
      if (msg.type === 'start') await sub.start()
      else if (msg.type === 'progress') send({ type: 'progress', cursor: sub.getCursor() ?? 0, ...counts })
      else if (msg.type === 'drain') {
        const complete = await Promise.race([sub.processAll().then(() => true), sleep(msg.limitMs).then(() => false)])
        send({ type: 'drained', complete })
      } else if (msg.type === 'stop') {
        // Stopping waits for the handlers in flight and the queued aggregates; the process ends either way.
        await Promise.race([sub.destroy().then(() => db.close()), sleep(msg.limitMs)])
        send({ type: 'stopped' })
        process.disconnect()
      }
    })().catch((err: unknown) => send({ type: 'error', message: `peer ${msg.type}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` }))
  })
  // The bench gone (or done with it): nothing of the peer outlives it.
  process.once('disconnect', () => process.exit(0))
  send({ type: 'ready', migrations: migrations.length })
}

main().catch((err: unknown) => {
  send({ type: 'error', message: `peer start-up: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` })
  process.disconnect()
})
