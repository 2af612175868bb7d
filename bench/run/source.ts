// Main-thread handle on the synthetic firehose worker (source-worker.ts).
import { tsWorker } from '../../server/lib/ts-worker.js'
import type { SourceWorkerData, SourceWorkerReply } from './source-worker.js'

export type SourceHandle = { url: string; headSeq: number; framesSent(): Promise<number>; close(): Promise<void> }

export async function startSource(path: string, limit?: number, direct = false): Promise<SourceHandle> {
  const worker = tsWorker(new URL('./source-worker.ts', import.meta.url), { workerData: { path, limit, direct } satisfies SourceWorkerData })
  const replies: ((r: SourceWorkerReply) => boolean)[] = []
  let failure: Error | null = null
  worker.on('message', (r: SourceWorkerReply) => {
    const i = replies.findIndex((take) => take(r))
    if (i >= 0) replies.splice(i, 1)
  })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  worker.on('error', (err) => {
    failure = err
    for (const take of replies.splice(0)) take({ type: 'error', message: err.message })
  })
  const next = <T extends SourceWorkerReply['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<SourceWorkerReply, { type: T }>>((resolve, reject) => {
      if (failure) return reject(failure)
      const timer = setTimeout(() => reject(new Error(`synthetic source: no '${type}' reply within ${timeoutMs} ms`)), timeoutMs)
      replies.push((r) => {
        if (r.type === 'error') {
          clearTimeout(timer)
          reject(new Error(`synthetic source failed: ${r.message}`))
          return true
        }
        if (r.type !== type) return false
        clearTimeout(timer)
        resolve(r as Extract<SourceWorkerReply, { type: T }>)
        return true
      })
    })
  let ready: Extract<SourceWorkerReply, { type: 'ready' }>
  try {
    ready = await next('ready', 60_000)
  } catch (err) {
    await worker.terminate()
    throw err
  }
  let closing: Promise<void> | null = null
  return {
    url: ready.url,
    headSeq: ready.headSeq,
    async framesSent() {
      const reply = next('stats', 5000)
      worker.postMessage({ type: 'stats' })
      return (await reply).framesSent
    },
    close() {
      closing ??= (async () => {
        const closed = next('closed', 5000).catch(() => undefined)
        worker.postMessage({ type: 'close' })
        await closed
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))])
        await worker.terminate()
      })()
      return closing
    },
  }
}
