// A deterministic synthetic firehose: the planner decides every frame, the committer signs real commits, and
// frames come out strictly in seq order. Streams, so a million-frame workload never sits in memory at once.
import { availableParallelism } from 'node:os'
import type { SyntheticAccount } from './accounts.js'
import { createCommitRunner } from './commit-pool.js'
import { encodeMessageFrame, type MessageType } from './frames.js'
import { planWorkload, type PlannedEvent, type PlannedWrite, type WorkloadOptions } from './planner.js'

export type { WorkloadOptions, PlannedWrite }

export type GenerateOptions = WorkloadOptions & {
  /** Worker threads for signing; 0 generates inline. Default: one per core for large workloads, else inline. */
  workers?: number
}

export type GeneratedFrame = {
  seq: number
  type: MessageType
  did: string
  time: string
  bytes: Uint8Array
  /** #commit frames: the writes as the generator planned them, record values included. */
  writes?: PlannedWrite[]
  /** #identity frames at account creation: the new account and its signing key (did:key). */
  account?: SyntheticAccount & { signingKey: string }
}

// Bounds memory and keeps workers busy while the head of the stream waits for its commit.
const WINDOW = 4096
const WORKERS_WORTHWHILE_FROM = 20_000

export function defaultWorkers(events: number): number {
  return events >= WORKERS_WORTHWHILE_FROM ? availableParallelism() : 0
}

export async function* generateWorkload(opts: GenerateOptions): AsyncGenerator<GeneratedFrame> {
  for (const key of ['accounts', 'events'] as const) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) throw new Error(`${key} must be a positive integer`)
  }
  const runner = createCommitRunner(String(opts.seed), opts.workers ?? defaultWorkers(opts.events))
  const window: Promise<GeneratedFrame[]>[] = []
  let head = 0
  try {
    for await (const event of planWorkload(opts)) {
      const frames = toFrames(event)
      // Only the head is awaited; a failure further back surfaces when it gets there, or not at all if abandoned.
      frames.catch(() => undefined)
      window.push(frames)
      if (window.length - head >= WINDOW) {
        yield* await window[head++]
        if (head >= WINDOW) {
          window.splice(0, head)
          head = 0
        }
      }
    }
    while (head < window.length) yield* await window[head++]
  } finally {
    await runner.close()
  }

  async function toFrames(event: PlannedEvent): Promise<GeneratedFrame[]> {
    const { seq } = event
    switch (event.kind) {
      case 'create': {
        const { did, handle, index } = event.account
        const [identityTime, accountTime, commitTime, syncTime] = event.times
        const job = { kind: 'init', seq: seq + 2, time: commitTime, syncTime, index, did, rev: event.rev } as const
        const { frames, signingKey } = await runner.run(job, index)
        return [
          {
            seq, type: '#identity', did, time: identityTime, account: { ...event.account, signingKey: signingKey! },
            bytes: encodeMessageFrame('#identity', { seq, did, time: identityTime, handle }),
          },
          {
            seq: seq + 1, type: '#account', did, time: accountTime,
            bytes: encodeMessageFrame('#account', { seq: seq + 1, did, time: accountTime, active: true }),
          },
          { seq: seq + 2, type: '#commit', did, time: commitTime, bytes: frames[0], writes: [] },
          { seq: seq + 3, type: '#sync', did, time: syncTime, bytes: frames[1] },
        ]
      }
      case 'account': {
        const { did, time, active, status } = event
        return [{ seq, type: '#account', did, time, bytes: encodeMessageFrame('#account', { seq, did, time, active, status }) }]
      }
      case 'commit': {
        const { did, index } = event.account
        const writes = event.writes.map((w) =>
          w.action === 'delete' ? { action: w.action, collection: w.collection, rkey: w.rkey } : { action: w.action, collection: w.collection, rkey: w.rkey, record: w.record },
        )
        const { frames: [bytes] } = await runner.run({ kind: 'commit', seq, time: event.time, did, rev: event.rev, writes }, index)
        return [{ seq, type: '#commit', did, time: event.time, bytes, writes: event.writes }]
      }
    }
  }
}

/** The whole workload in memory: for tests and small sets. */
export async function generateFrames(opts: GenerateOptions): Promise<GeneratedFrame[]> {
  const frames: GeneratedFrame[] = []
  for await (const frame of generateWorkload(opts)) frames.push(frame)
  return frames
}
