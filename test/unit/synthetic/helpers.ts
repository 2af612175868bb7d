// A bare subscribeRepos client for asserting on exactly what the synthetic source puts on the wire.
import { decodeAll } from '@atproto/lex-cbor'
import WebSocket from 'ws'

export type WireFrame = { header: { op: number; t?: string }; body: Record<string, unknown>; bytes: Uint8Array }

export type RawSubscription = {
  ws: WebSocket
  frames: WireFrame[]
  /** Resolves with the close code once the connection ends. */
  closed: Promise<number>
  /** Resolves once `n` frames arrived (rejects if the connection ends first). */
  received(n: number, timeoutMs?: number): Promise<WireFrame[]>
}

export function decodeFrame(bytes: Uint8Array): WireFrame {
  const [header, body] = [...decodeAll(bytes)] as [WireFrame['header'], Record<string, unknown>]
  return { header, body, bytes }
}

export function subscribe(service: string, cursor?: number | string): RawSubscription {
  const query = cursor === undefined ? '' : `?cursor=${cursor}`
  const ws = new WebSocket(`${service}/xrpc/com.atproto.sync.subscribeRepos${query}`)
  const frames: WireFrame[] = []
  const waiters: (() => void)[] = []
  ws.on('message', (data: Buffer) => {
    frames.push(decodeFrame(new Uint8Array(data)))
    for (const wake of waiters.splice(0)) wake()
  })
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  ws.on('error', () => undefined)
  const received = (n: number, timeoutMs = 10_000) =>
    new Promise<WireFrame[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${frames.length} of ${n} frames within ${timeoutMs} ms`)), timeoutMs)
      const check = () => {
        if (frames.length >= n) {
          clearTimeout(timer)
          resolve(frames.slice(0, n))
        } else {
          waiters.push(check)
        }
      }
      void closed.then(() => {
        clearTimeout(timer)
        if (frames.length < n) reject(new Error(`connection closed after ${frames.length} of ${n} frames`))
      })
      check()
    })
  return { ws, frames, closed, received }
}

export async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
