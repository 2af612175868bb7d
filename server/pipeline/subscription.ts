// How skyfill opens a com.atproto.sync.subscribeRepos socket, in one place: the replay's source, the live
// firehose and the probes that locate a window all connect the same way (frame cap, no compression, handshake
// timeout, cursor in the query).
import WebSocket from 'ws'

/** Frames larger than this are refused by ws; the firehose's own limit for a commit frame is far below it. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024

export function subscribeReposUrl(service: string, cursor: number | null): string {
  const base = `${service.replace(/\/+$/, '')}/xrpc/com.atproto.sync.subscribeRepos`
  return cursor === null ? base : `${base}?cursor=${cursor}`
}

export function openSubscription(service: string, cursor: number | null, handshakeTimeoutMs = 15_000): WebSocket {
  return new WebSocket(subscribeReposUrl(service, cursor), {
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    handshakeTimeout: handshakeTimeoutMs,
  })
}
