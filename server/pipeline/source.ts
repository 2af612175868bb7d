// One WebSocket subscription to com.atproto.sync.subscribeRepos, read only as fast as the consumer pulls.
//
// Queue guarantee: at most `highWaterFrames` frames or `highWaterBytes` bytes are buffered (plus what ws has
// already read off the TCP socket when it is paused, one socket read at most). Past that the socket is paused, so
// the relay's unsent backlog stays on the relay's side of the TCP connection (invariant 1).
//
// The source knows nothing of seqs: on a reconnect it drops what it still buffers and resumes from the resume
// point the consumer keeps (the last seq it decoded), so nothing is skipped and nothing arrives out of order. Each
// new connection is announced in the stream itself (a `connected` pull before its first frame), so the consumer
// knows where a gap check belongs without being called back.
import WebSocket from 'ws'
import { backoffMs } from '../lib/backoff.js'
import type { ResumePoint } from './resume-point.js'
import { openSubscription, subscribeReposUrl } from './subscription.js'

export type SourcePull =
  | { kind: 'frame'; bytes: Uint8Array }
  /** A new connection opened from `cursor`; its frames follow. */
  | { kind: 'connected'; cursor: number | null }
  | { kind: 'idle' }
  | { kind: 'closed' }

export type SourceEvent =
  | { kind: 'connecting'; url: string; cursor: number | null; attempt: number }
  /** `afterFailures`: how many attempts failed before this one succeeded. */
  | { kind: 'connected'; cursor: number | null; afterFailures: number }
  /** `failures`: consecutive failed attempts so far, so listeners can log an outage without a line per retry. */
  | { kind: 'disconnected'; reason: string; retryInMs: number; failures: number }

export interface FrameSource {
  start(): void
  /** The next frame, or `idle` after `timeoutMs` without one (so the consumer can flush a partial batch). */
  next(timeoutMs: number): Promise<SourcePull>
  /** Drop the connection and resume from the consumer's cursor (e.g. after a ConsumerTooSlow error frame). */
  reconnect(reason: string): void
  close(): Promise<void>
  /** How full the buffer is, for the dashboard: a full buffer with a paused socket is backpressure at work. */
  stats(): SourceStats
}

export type SourceStats = {
  connected: boolean
  paused: boolean
  bufferedFrames: number
  bufferedBytes: number
  reconnects: number
  /** Frames received on the current connection: an open socket that brought none yet is not flowing. */
  framesThisConnection: number
}

export type WebSocketSourceOptions = {
  /** Service base, e.g. wss://bsky.network or ws://127.0.0.1:2583. */
  service: string
  resume: ResumePoint
  stallTimeoutMs: number
  highWaterFrames?: number
  highWaterBytes?: number
  onEvent?: (event: SourceEvent) => void
  /** Reconnect backoff ceiling. */
  maxBackoffMs?: number
}

/** During a long outage: the first three failures, then the 4th, 8th, 16th, ... (one line per 30 s retry is spam). */
function worthLogging(failures: number): boolean {
  return failures <= 3 || (failures & (failures - 1)) === 0
}

/** The log line for a source event, or null when it is not worth a line. Shared by the backfill and the live firehose. */
export function sourceEventLine(e: SourceEvent): string | null {
  switch (e.kind) {
    case 'connecting':
      return null
    case 'connected':
      return e.afterFailures > 0 ? `Source reachable again after ${e.afterFailures} failed attempts; resuming from cursor ${e.cursor}` : null
    case 'disconnected':
      return worthLogging(e.failures)
        ? `Source disconnected: ${e.reason}; retrying in ${(e.retryInMs / 1000).toFixed(1)} s${e.failures > 1 ? ` (${e.failures} failures in a row)` : ''}`
        : null
    default: {
      const unknown: never = e
      throw new Error(`unhandled source event ${JSON.stringify(unknown)}`)
    }
  }
}

export class WebSocketSource implements FrameSource {
  private ws: WebSocket | null = null
  private readonly buffer: (Uint8Array | { connectedAt: number | null })[] = []
  private bufferedBytes = 0
  private waiter: ((pull: SourcePull) => void) | null = null
  private closed = false
  private attempt = 0
  private reconnects = 0
  private framesThisConnection = 0
  /** Stalls in a row with no progress of the consumer's resume point between them. */
  private stallStreak = 0
  private resumeAtLastStall: number | null | undefined = undefined
  private lastFrameAt = Date.now()
  private stallTimer: NodeJS.Timeout | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private readonly highWaterFrames: number
  private readonly highWaterBytes: number

  constructor(private readonly opts: WebSocketSourceOptions) {
    this.highWaterFrames = opts.highWaterFrames ?? 256
    this.highWaterBytes = opts.highWaterBytes ?? 8 * 1024 * 1024
  }

  start(): void {
    this.connect()
    this.stallTimer = setInterval(() => this.checkStall(), Math.min(1000, this.opts.stallTimeoutMs / 4))
    this.stallTimer.unref()
  }

  next(timeoutMs: number): Promise<SourcePull> {
    const entry = this.buffer.shift()
    if (entry && !(entry instanceof Uint8Array)) return Promise.resolve({ kind: 'connected', cursor: entry.connectedAt })
    if (entry) {
      this.bufferedBytes -= entry.byteLength
      this.maybeResume()
      return Promise.resolve({ kind: 'frame', bytes: entry })
    }
    if (this.closed) return Promise.resolve({ kind: 'closed' })
    this.maybeResume()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null
        resolve({ kind: 'idle' })
      }, timeoutMs)
      this.waiter = (pull) => {
        clearTimeout(timer)
        this.waiter = null
        resolve(pull)
      }
    })
  }

  reconnect(reason: string): void {
    this.dropConnection(reason, 0)
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.stallTimer) clearInterval(this.stallTimer)
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.discardSocket()
    this.waiter?.({ kind: 'closed' })
  }

  stats(): SourceStats {
    return {
      connected: this.ws?.readyState === WebSocket.OPEN,
      paused: this.ws?.isPaused ?? false,
      bufferedFrames: this.buffer.filter((e) => e instanceof Uint8Array).length,
      bufferedBytes: this.bufferedBytes,
      reconnects: this.reconnects,
      framesThisConnection: this.framesThisConnection,
    }
  }

  private connect(): void {
    if (this.closed) return
    const cursor = this.opts.resume.seq
    this.attempt++
    this.opts.onEvent?.({ kind: 'connecting', url: subscribeReposUrl(this.opts.service, cursor), cursor, attempt: this.attempt })
    const ws = openSubscription(this.opts.service, cursor)
    this.ws = ws
    this.framesThisConnection = 0
    this.lastFrameAt = Date.now()
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => {
      this.opts.onEvent?.({ kind: 'connected', cursor, afterFailures: this.attempt - 1 })
      if (this.waiter) this.waiter({ kind: 'connected', cursor })
      else this.buffer.push({ connectedAt: cursor })
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ws !== ws) return
      this.lastFrameAt = Date.now()
      this.attempt = 0
      this.framesThisConnection++
      // Text frames are not part of the protocol; they are handed on so the decoder can reject them visibly.
      const bytes = isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data)
      if (this.waiter) {
        this.waiter({ kind: 'frame', bytes })
        return
      }
      this.buffer.push(bytes)
      this.bufferedBytes += bytes.byteLength
      if (this.buffer.length >= this.highWaterFrames || this.bufferedBytes >= this.highWaterBytes) ws.pause()
    })
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return
      const text = reason.toString() || 'no reason given'
      this.dropConnection(code === 1000 ? `closed cleanly by the source (${text})` : `closed with code ${code} (${text})`)
    })
    ws.on('error', (err) => {
      if (this.ws !== ws) return
      this.dropConnection(err.message || String(err))
    })
  }

  /** Forgets the current socket; late events from it (an error while closing) are ignored. */
  private discardSocket(): void {
    const ws = this.ws
    this.ws = null
    if (!ws) return
    ws.removeAllListeners()
    ws.on('error', () => {})
    ws.terminate()
  }

  private dropConnection(reason: string, delayOverrideMs?: number): void {
    if (this.closed) return
    this.discardSocket()
    // What is still buffered will be fetched again from the consumer's cursor, in order.
    this.buffer.length = 0
    this.bufferedBytes = 0
    this.reconnects++
    const retryInMs = delayOverrideMs ?? backoffMs(this.attempt, { baseMs: 500, maxMs: this.opts.maxBackoffMs ?? 30_000 })
    this.opts.onEvent?.({ kind: 'disconnected', reason, retryInMs, failures: this.attempt })
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.connect(), retryInMs)
  }

  private maybeResume(): void {
    const ws = this.ws
    if (!ws || !ws.isPaused) return
    if (this.buffer.length <= this.highWaterFrames / 2 && this.bufferedBytes <= this.highWaterBytes / 2) ws.resume()
  }

  /** Silence only counts while the socket is flowing: a socket we paused is quiet by our choice. */
  private checkStall(): void {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) return
    if (ws.isPaused || this.buffer.length > 0) {
      this.lastFrameAt = Date.now()
      return
    }
    const silentMs = Date.now() - this.lastFrameAt
    if (silentMs >= this.opts.stallTimeoutMs) {
      // The first stall reconnects at once; stalls that bring the consumer no further wait longer each time, so a
      // source that sends the same broken frames and falls silent is not hammered.
      this.stallStreak = this.resumeAtLastStall === this.opts.resume.seq ? this.stallStreak + 1 : 1
      this.resumeAtLastStall = this.opts.resume.seq
      const waitMs = this.stallStreak === 1 ? 0 : backoffMs(this.stallStreak - 2, { baseMs: 1000, maxMs: this.opts.maxBackoffMs ?? 30_000 })
      this.dropConnection(`stalled, no frames for ${Math.round(silentMs / 1000)} s`, waitMs)
    }
  }
}
