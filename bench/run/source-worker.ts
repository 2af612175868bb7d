// The synthetic firehose in a worker thread of its own, so pumping thousands of frames a second never delays the
// bench's main thread, which times API requests and samples the server. Serves a stored workload, optionally only
// its first `limit` frames (then the source's head is `limit`).
//
// In front of bench/source/server.ts sits a small byte-level relay that answers one thing differently: a
// subscription without a cursor gets the newest frame at once and then stays open, as on a live relay (the
// synthetic server models a quiet PDS and sends nothing). The backfill's probe then learns the head from that one
// frame instead of searching for it with cursors and waiting out a quiet period at the head, which saves several
// seconds per mode and does not change what gets replayed. Every other connection is piped, unchanged, to the
// synthetic server, whose backpressure the pipe preserves.
import http, { type IncomingMessage } from 'node:http'
import net, { type Socket } from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { WebSocketServer } from 'ws'
import { startSyntheticFirehose } from '../source/server.js'
import { openWorkload, type FrameStore } from '../source/store.js'

export type SourceWorkerData = { path: string; limit?: number; /** No front relay: the synthetic server itself (a quiet PDS). */ direct?: boolean }
export type SourceWorkerReply =
  | { type: 'ready'; url: string; headSeq: number }
  | { type: 'error'; message: string }
  | { type: 'stats'; framesSent: number; connections: number }
  | { type: 'closed' }
export type SourceWorkerRequest = { type: 'stats' } | { type: 'close' }

const SUBSCRIBE_PATH = '/xrpc/com.atproto.sync.subscribeRepos'

function truncated(store: FrameStore, limit: number): FrameStore {
  return {
    headSeq: Math.min(limit, store.headSeq),
    async *frames(afterSeq) {
      if (afterSeq >= limit) return
      for await (const frame of store.frames(afterSeq)) {
        if (frame.seq > limit) return
        yield frame
      }
    },
  }
}

async function headFrame(store: FrameStore): Promise<Uint8Array | null> {
  for await (const frame of store.frames(store.headSeq - 1)) return frame.bytes
  return null
}

function requestHead(req: IncomingMessage): string {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`
  for (let i = 0; i < req.rawHeaders.length; i += 2) text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`
  return `${text}\r\n`
}

async function startFront(upstreamPort: number, newest: Uint8Array | null) {
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  // Plain HTTP (e.g. DID lookups pointed here as a PLC directory): not found, as the synthetic server answers.
  const front = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'NotFound' }))
  })
  front.on('connection', track)
  const wss = new WebSocketServer({ noServer: true })
  front.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === SUBSCRIBE_PATH && !url.searchParams.has('cursor') && newest) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => undefined)
        ws.send(newest, { binary: true })
      })
      return
    }
    socket.setNoDelay(true)
    const upstream = net.connect(upstreamPort, '127.0.0.1')
    track(upstream)
    upstream.setNoDelay(true)
    const destroy = () => {
      socket.destroy()
      upstream.destroy()
    }
    upstream.on('error', destroy)
    socket.on('error', destroy)
    upstream.once('close', () => socket.destroy())
    socket.once('close', () => upstream.destroy())
    upstream.once('connect', () => {
      upstream.write(requestHead(req))
      if (head.length) upstream.write(head)
      socket.pipe(upstream)
      upstream.pipe(socket)
    })
  })
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject)
    front.listen(0, '127.0.0.1', () => resolve())
  })
  return {
    port: (front.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy()
      wss.close()
      await new Promise<void>((resolve) => front.close(() => resolve()))
    },
  }
}

const port = parentPort!
const data = workerData as SourceWorkerData

try {
  const stored = await openWorkload(data.path)
  const store = data.limit ? truncated(stored, data.limit) : stored
  const firehose = await startSyntheticFirehose({ store })
  const front = data.direct ? null : await startFront(firehose.port, await headFrame(store))
  port.on('message', (msg: SourceWorkerRequest) => {
    if (msg.type === 'stats') {
      const s = firehose.stats()
      port.postMessage({ type: 'stats', framesSent: s.framesSent, connections: s.connections } satisfies SourceWorkerReply)
    } else if (msg.type === 'close') {
      void Promise.all([front?.close(), firehose.close()]).finally(() => {
        port.postMessage({ type: 'closed' } satisfies SourceWorkerReply)
        port.close()
      })
    }
  })
  port.postMessage({ type: 'ready', url: front ? `ws://127.0.0.1:${front.port}` : firehose.url, headSeq: store.headSeq } satisfies SourceWorkerReply)
} catch (err) {
  port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies SourceWorkerReply)
}
