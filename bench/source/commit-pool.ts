// Runs committer jobs either inline or across worker threads. Signing dominates generation cost, so workers
// scale it across cores; each account is pinned to one worker because its commits chain on each other.
import type { Worker } from 'node:worker_threads'
import { tsWorker } from '../../server/lib/ts-worker.js'
import type { WorkerReply, WorkerRequest } from './commit-worker.js'
import { Committer, type CommitterJob, type CommitterResult } from './committer.js'

export interface CommitRunner {
  /** Frames for `job`; jobs of one `shard` complete in submission order. */
  run(job: CommitterJob, shard: number): Promise<CommitterResult>
  close(): Promise<void>
}

export function createCommitRunner(seed: string, workers: number): CommitRunner {
  return workers > 0 ? new WorkerPool(seed, workers) : new InlineRunner(seed)
}

class InlineRunner implements CommitRunner {
  private readonly committer: Committer
  private tail: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor(seed: string) {
    this.committer = new Committer(seed)
  }

  run(job: CommitterJob): Promise<CommitterResult> {
    const result = this.tail.then(() => (this.closed ? Promise.reject(new Error('commit runner closed')) : this.committer.run(job)))
    this.tail = result.catch(() => undefined)
    return result
  }

  async close(): Promise<void> {
    // Jobs still queued behind an abandoned stream are dropped rather than signed for nothing.
    this.closed = true
    await this.tail
  }
}

type Pending = { resolve: (result: CommitterResult) => void; reject: (err: Error) => void }
type Slot = { worker: Worker; batch: CommitterJob[]; pending: Map<number, Pending>; flushScheduled: boolean }

// Large enough to amortize postMessage, small enough that workers start before the planner gets far ahead.
const BATCH = 64

class WorkerPool implements CommitRunner {
  private readonly slots: Slot[]

  constructor(seed: string, size: number) {
    this.slots = Array.from({ length: size }, () => {
      const worker = tsWorker(new URL('./commit-worker.ts', import.meta.url), { workerData: { seed } })
      const slot: Slot = { worker, batch: [], pending: new Map(), flushScheduled: false }
      worker.on('message', (reply: WorkerReply) => this.settle(slot, reply))
      worker.on('error', (err) => this.fail(slot, err))
      return slot
    })
  }

  run(job: CommitterJob, shard: number): Promise<CommitterResult> {
    const slot = this.slots[shard % this.slots.length]
    const result = new Promise<CommitterResult>((resolve, reject) => slot.pending.set(job.seq, { resolve, reject }))
    slot.batch.push(job)
    if (slot.batch.length >= BATCH) {
      this.send(slot)
    } else if (!slot.flushScheduled) {
      // A partial batch goes out once the caller's current burst of submissions is over (it is then waiting).
      slot.flushScheduled = true
      setImmediate(() => {
        slot.flushScheduled = false
        if (slot.batch.length > 0) this.send(slot)
      })
    }
    return result
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()))
  }

  private send(slot: Slot): void {
    slot.worker.postMessage({ jobs: slot.batch } satisfies WorkerRequest)
    slot.batch = []
  }

  private settle(slot: Slot, reply: WorkerReply): void {
    if ('error' in reply) return this.fail(slot, new Error(`commit worker failed: ${reply.error}`))
    for (const { seq, ...result } of reply.results) {
      slot.pending.get(seq)!.resolve(result)
      slot.pending.delete(seq)
    }
  }

  private fail(slot: Slot, err: Error): void {
    for (const pending of slot.pending.values()) pending.reject(err)
    slot.pending.clear()
  }
}
