// One short-lived subscription that reads the first event after a cursor and hangs up: how the backfill learns
// where the source's history starts and ends, and which seq a moment in time corresponds to, without replaying.
import type { FrameDecoder } from '../../pipeline/decoder/types.js'
import { openSubscription } from '../../pipeline/subscription.js'

export type ProbeResult =
  /** The first event after the cursor. `outdated`: the source said it no longer holds the cursor's history. */
  | { kind: 'event'; seq: number; time: string; outdated: boolean }
  /** The cursor is past the source's head. */
  | { kind: 'future' }
  /** Nothing came within the wait: the cursor is at the head of a quiet source. */
  | { kind: 'empty' }

export type Probe = (cursor: number | null) => Promise<ProbeResult>

/** The probe was cut short by a shutdown. */
export class ProbeAborted extends Error {
  constructor() {
    super('stopped while probing the source')
    this.name = 'ProbeAborted'
  }
}

/** The source could not be reached at all (as opposed to answering something unexpected). */
export class SourceUnreachable extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SourceUnreachable'
  }
}

export type ProbeOptions = {
  service: string
  decoder: FrameDecoder
  /** How long to wait for a first frame before calling the cursor the head. */
  quietMs: number
  connectTimeoutMs?: number
  /** A shutdown ends a probe at once, whatever it is waiting for (the handshake, a first frame). */
  signal?: AbortSignal
}

export function createProbe(opts: ProbeOptions): Probe {
  return (cursor) =>
    new Promise<ProbeResult>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new ProbeAborted())
      const ws = openSubscription(opts.service, cursor, opts.connectTimeoutMs ?? 15_000)
      let outdated = false
      let settled = false
      let quietTimer: NodeJS.Timeout | null = null
      const finish = (result: ProbeResult | Error) => {
        if (settled) return
        settled = true
        if (quietTimer) clearTimeout(quietTimer)
        opts.signal?.removeEventListener('abort', onAbort)
        ws.removeAllListeners()
        ws.on('error', () => {})
        ws.terminate()
        if (result instanceof Error) reject(result)
        else resolve(result)
      }
      const onAbort = () => finish(new ProbeAborted())
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      ws.on('open', () => {
        quietTimer = setTimeout(() => finish({ kind: 'empty' }), opts.quietMs)
      })
      ws.on('message', async (data: Buffer) => {
        ws.pause()
        const decoded = await opts.decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
        if (decoded.kind === 'error') {
          if (decoded.name === 'FutureCursor') finish({ kind: 'future' })
          else finish(new Error(`source answered cursor ${cursor} with ${decoded.name}: ${decoded.message ?? ''}`))
          return
        }
        if (decoded.kind === 'info') {
          outdated ||= decoded.name === 'OutdatedCursor'
          ws.resume()
          return
        }
        const { seq, time } = decoded.frame
        if (seq === null || time === null) {
          // An unreadable frame says nothing about position; the next one will.
          ws.resume()
          return
        }
        finish({ kind: 'event', seq, time, outdated })
      })
      // A source that hangs up without a frame has nothing after the cursor.
      ws.on('close', () => finish({ kind: 'empty' }))
      ws.on('error', (err) => finish(new SourceUnreachable(`could not reach ${opts.service}: ${err.message}`)))
    })
}
