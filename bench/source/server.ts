// Serves a static set of frames as com.atproto.sync.subscribeRepos with the PDS's cursor semantics
// (packages/pds/src/api/com/atproto/sync/subscribeRepos.ts), honouring WebSocket backpressure, with faults to
// inject for tests of a consumer's recovery. Any plain HTTP request gets a 404, which also makes the server a
// PLC directory that knows no DIDs: point an IdResolver's plcUrl at it (with a plain fetch, since the default one
// refuses loopback) and DID resolution ends as "not found", offline.
import { createServer, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocket, WebSocketServer } from 'ws'
import { encodeErrorFrame, encodeMessageFrame } from './frames.js'
import type { FrameStore, StoredFrame } from './store.js'

export type FaultOptions = {
  /** Close cleanly (code 1000) once this many frames went out on a connection. */
  closeAfterFrames?: number
  /** Reset the TCP connection, without a close frame, once this many frames went out on a connection. */
  dropAfterFrames?: number
  /** Send nothing more, but keep the connection open, once this many frames went out on a connection. */
  stallAfterFrames?: number
  /** Raw bytes sent as a frame right after the frame with seq `afterSeq` (or first, when resuming from it). */
  inject?: { afterSeq: number; bytes: Uint8Array }[]
  /** Only the first this many connections see the faults (default: all), so a reconnecting consumer recovers. */
  connections?: number
}

export type SyntheticFirehoseOptions = {
  /** The frames, seqs ascending (see also `store`). */
  frames?: readonly StoredFrame[]
  store?: FrameStore
  /** 0 (default) picks a free port. */
  port?: number
  host?: string
  /** Frames per second per connection; undefined or 0 is full speed. */
  ratePerSec?: number
  /** Pretend history before this seq is gone: an older cursor gets an OutdatedCursor #info, then frames from here. */
  oldestSeq?: number
  faults?: FaultOptions
  /** Bytes the server lets ws buffer before it waits for the socket to drain. */
  highWaterBytes?: number
}

export type FirehoseStats = {
  connections: number
  open: number
  /** Frames handed to sockets, over all connections, injected and control frames included. */
  framesSent: number
  /** The cursor each connection asked for, in connection order (null: none). */
  cursors: (number | null)[]
}

export type SyntheticFirehose = {
  /** Service base URL, e.g. ws://127.0.0.1:5100. */
  url: string
  port: number
  headSeq: number
  stats(): FirehoseStats
  close(): Promise<void>
}

const PATH = '/xrpc/com.atproto.sync.subscribeRepos'
const DEFAULT_HIGH_WATER_BYTES = 1 << 20

export async function startSyntheticFirehose(opts: SyntheticFirehoseOptions): Promise<SyntheticFirehose> {
  if (!opts.store === !opts.frames) throw new Error('pass exactly one of `frames` and `store`')
  const store = opts.store ?? memoryStore(opts.frames!)
  const host = opts.host ?? '127.0.0.1'
  const stats: FirehoseStats = { connections: 0, open: 0, framesSent: 0, cursors: [] }
  const sockets = new Set<Socket>()

  const http = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'NotFound' }))
  })
  const wss = new WebSocketServer({ noServer: true })
  http.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = stats.connections++
      const faults = connection < (opts.faults?.connections ?? Infinity) ? (opts.faults ?? {}) : {}
      stats.open++
      ws.on('error', () => undefined)
      ws.once('close', () => stats.open--)
      const cursor = url.searchParams.get('cursor')
      new Connection(ws, socket, store, stats, opts, faults).serve(cursor).catch(() => socket.destroy())
    })
  })

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(opts.port ?? 0, host, () => resolve())
  })
  const port = (http.address() as { port: number }).port
  return {
    url: `ws://${host}:${port}`,
    port,
    headSeq: store.headSeq,
    stats: () => ({ ...stats, cursors: [...stats.cursors] }),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      wss.close()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

class Connection {
  private sent = 0
  private readonly rateStart = performance.now()
  private lastSeq = 0
  private readonly closed: Promise<void>

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly store: FrameStore,
    private readonly stats: FirehoseStats,
    private readonly opts: SyntheticFirehoseOptions,
    private readonly faults: FaultOptions,
  ) {
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()))
  }

  async serve(cursorParam: string | null): Promise<void> {
    if (cursorParam === null) {
      // A static set has no new events: a live subscriber just waits, as on a quiet PDS.
      this.stats.cursors.push(null)
      return
    }
    const cursor = /^-?\d+$/.test(cursorParam) ? Number(cursorParam) : NaN
    this.stats.cursors.push(Number.isSafeInteger(cursor) ? cursor : null)
    if (!Number.isSafeInteger(cursor)) return this.fail('InvalidRequest', `Invalid cursor: ${cursorParam}`)
    if (cursor > this.store.headSeq) return this.fail('FutureCursor', 'Cursor in the future.')
    let after = cursor
    const oldest = this.opts.oldestSeq
    if (oldest !== undefined && cursor < oldest - 1) {
      const info = { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit. Possibly missing events' }
      if (!(await this.send(encodeMessageFrame('#info', info)))) return
      after = oldest - 1
    }
    this.lastSeq = after
    for await (const frame of this.store.frames(after)) {
      if (!(await this.sendInjections(frame.seq - 1))) return
      if (!(await this.send(frame.bytes))) return
      this.lastSeq = frame.seq
    }
    if (!(await this.sendInjections(Infinity))) return
    await this.applyFaults()
  }

  private async fail(error: string, message: string): Promise<void> {
    // Like @atproto/xrpc-server: the error frame, then a policy-violation close carrying the error name.
    await this.send(encodeErrorFrame(error, message))
    this.ws.close(1008, error)
  }

  private async sendInjections(upToSeq: number): Promise<boolean> {
    for (const { afterSeq, bytes } of this.faults.inject ?? []) {
      if (afterSeq >= this.lastSeq && afterSeq <= upToSeq && afterSeq <= this.store.headSeq) {
        if (!(await this.send(bytes))) return false
      }
    }
    return true
  }

  /** Sends one frame once faults, rate and backpressure allow; false when this connection is done sending. */
  private async send(bytes: Uint8Array): Promise<boolean> {
    if (!(await this.applyFaults())) return false
    await this.pace()
    if (this.ws.readyState !== WebSocket.OPEN) return false
    const highWater = this.opts.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES
    if (this.ws.bufferedAmount < highWater) {
      this.ws.send(bytes, { binary: true })
    } else {
      // The callback fires once this frame, and so everything queued before it, reached the kernel: waiting for
      // it is waiting for drain. A paused consumer therefore stops this loop, and with it the store reads.
      const flushed = await new Promise<boolean>((resolve) => this.ws.send(bytes, { binary: true }, (err) => resolve(!err)))
      if (!flushed) return false
    }
    this.sent++
    this.stats.framesSent++
    return true
  }

  /** False when a fault ends (or freezes) this connection's stream. */
  private async applyFaults(): Promise<boolean> {
    const { closeAfterFrames, dropAfterFrames, stallAfterFrames } = this.faults
    if (closeAfterFrames !== undefined && this.sent >= closeAfterFrames) {
      this.ws.close(1000)
      return false
    }
    if (dropAfterFrames !== undefined && this.sent >= dropAfterFrames) {
      this.socket.resetAndDestroy()
      return false
    }
    if (stallAfterFrames !== undefined && this.sent >= stallAfterFrames) {
      await this.closed
      return false
    }
    return true
  }

  private async pace(): Promise<void> {
    const rate = this.opts.ratePerSec
    if (!rate) return
    const due = this.rateStart + (this.sent * 1000) / rate
    const ahead = due - performance.now()
    // Sleeping per frame at high rates would be all timer overhead; catching up in small bursts keeps the average.
    if (ahead > 2) await sleep(ahead)
  }
}

function memoryStore(frames: readonly StoredFrame[]): FrameStore {
  return {
    headSeq: frames.length > 0 ? frames[frames.length - 1].seq : 0,
    async *frames(afterSeq: number) {
      let lo = 0
      let hi = frames.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (frames[mid].seq <= afterSeq) lo = mid + 1
        else hi = mid
      }
      for (let i = lo; i < frames.length; i++) yield frames[i]
    },
  }
}
