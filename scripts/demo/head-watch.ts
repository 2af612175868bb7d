// Watches a PDS's firehose from its live head (no cursor) and keeps count of what it emits: the last seq, and how
// many commit / identity / account frames went by. The demo uses it to report seeding progress and trickle activity.
import WebSocket from 'ws'
import { parseFrame } from '../../server/pipeline/decoder/frame.js'

export type HeadWatch = {
  /** Highest seq seen so far (null before the first frame). */
  readonly seq: number | null
  /** Frames seen, by kind (commit, identity, account, sync, ...). */
  readonly counts: Readonly<Record<string, number>>
  readonly total: number
  close(): Promise<void>
}

export async function watchHead(pdsUrl: string): Promise<HeadWatch> {
  const url = `${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`
  const counts: Record<string, number> = {}
  let seq: number | null = null
  let total = 0
  let closed = false
  let ws: WebSocket

  const connect = () =>
    new Promise<void>((resolve, reject) => {
      ws = new WebSocket(url)
      ws.binaryType = 'nodebuffer'
      ws.once('open', () => resolve())
      ws.once('error', reject)
      ws.on('message', (data: Buffer) => {
        const frame = parseFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
        const kind = frame.kind
        counts[kind] = (counts[kind] ?? 0) + 1
        total++
        const s = 'body' in frame ? frame.body.seq : 'seq' in frame ? frame.seq : null
        if (typeof s === 'number' && (seq === null || s > seq)) seq = s
      })
      ws.on('close', () => {
        // The PDS closes idle subscriptions only when it stops; reconnect (from the head) unless we are done.
        if (!closed) setTimeout(() => void connect().catch(() => {}), 500).unref()
      })
    })
  await connect()

  return {
    get seq() {
      return seq
    },
    get counts() {
      return counts
    },
    get total() {
      return total
    },
    async close() {
      closed = true
      if (ws.readyState === WebSocket.CLOSED) return
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve())
        ws.close()
        setTimeout(() => {
          ws.terminate()
          resolve()
        }, 1000).unref()
      })
    },
  }
}
