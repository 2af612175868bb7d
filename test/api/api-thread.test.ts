// The HTTP server runs on a thread of its own (server/api-thread/): a read the database answers (getProfile,
// /api/stats) is served while the main thread, where the backfill decodes, writes and collects its garbage, is held;
// a route that reads the services (/api/backfill) waits for the main thread, and then answers with what it says.
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

type Answer = { path: string; status: number; body: any; startedMs: number; ms: number }

/** A client on a thread of its own, since the test's main thread is the server's and is about to be held. */
function clientThread(base: string, paths: string[], forMs: number): { go(): void; answers: Promise<Answer[]> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     parentPort.once('message', async () => {
       const { base, paths, forMs } = workerData
       const t0 = performance.now()
       const answers = []
       const ask = async (path) => {
         const startedMs = performance.now() - t0
         const res = await fetch(base + path)
         answers.push({ path, status: res.status, body: await res.json(), startedMs, ms: performance.now() - t0 - startedMs })
       }
       const status = ask('/api/backfill')
       while (performance.now() - t0 < forMs) {
         await Promise.all(paths.map(ask))
         await new Promise((r) => setTimeout(r, 20))
       }
       await status
       parentPort.postMessage(answers)
     })`,
    { eval: true, workerData: { base, paths, forMs } },
  )
  const answers = new Promise<Answer[]>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  }).finally(() => worker.terminate())
  return { go: () => worker.postMessage('go'), answers }
}

describe('the API thread', () => {
  it('serves reads from the database while the main thread is held, and status once it is free', async () => {
    const profile = `/xrpc/app.bsky.actor.getProfile?actor=${ALICE}`
    // A warm-up, so the held second measures serving, not the first query's planning.
    expect((await fetch(`${server.url}${profile}`)).status).toBe(200)
    const client = clientThread(server.url, [profile, '/api/stats'], 1200)
    client.go()
    const heldMs = 1500
    const heldFrom = performance.now()
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, heldMs)
    expect(performance.now() - heldFrom).toBeGreaterThanOrEqual(heldMs - 5)
    const answers = await client.answers

    const reads = answers.filter((a) => a.path !== '/api/backfill')
    // Every ~20 ms for 1.2 s, all while the main thread was held.
    expect(reads.length).toBeGreaterThanOrEqual(2 * 10)
    for (const a of reads) expect(a.status).toBe(200)
    expect(reads.filter((a) => a.path === profile).every((a) => a.body.handle === 'alice.test')).toBe(true)
    expect(reads.filter((a) => a.path === '/api/stats').every((a) => a.body.actors.count > 0)).toBe(true)
    expect(Math.max(...reads.map((a) => a.ms))).toBeLessThan(500)

    const [status] = answers.filter((a) => a.path === '/api/backfill')
    expect(status.status).toBe(200)
    expect(status.body.state).toBe(server.skyfill.backfill.getProgress().state)
    // Asked for at once, answered only once the main thread was free again.
    expect(status.ms).toBeGreaterThan(1000)
  })
})
