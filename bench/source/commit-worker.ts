// Worker thread entry: builds the commits of the accounts assigned to this worker, in the order received.
import { parentPort, workerData } from 'node:worker_threads'
import { Committer, type CommitterJob, type CommitterResult } from './committer.js'

export type WorkerRequest = { jobs: CommitterJob[] }
export type WorkerReply = { results: (CommitterResult & { seq: number })[] } | { error: string }

const committer = new Committer((workerData as { seed: string }).seed)
const port = parentPort!

async function handle({ jobs }: WorkerRequest): Promise<void> {
  try {
    const results: (CommitterResult & { seq: number })[] = []
    for (const job of jobs) results.push({ seq: job.seq, ...(await committer.run(job)) })
    const transfer = results.flatMap((r) => r.frames.map((f) => f.buffer as ArrayBuffer))
    port.postMessage({ results } satisfies WorkerReply, transfer)
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies WorkerReply)
  }
}

// Batches must not interleave: a repo's commits chain on each other, so each batch finishes before the next.
let queue = Promise.resolve()
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(() => handle(request))
})
