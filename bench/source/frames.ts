// Event-stream framing for com.atproto.sync.subscribeRepos, byte-identical to
// what the PDS emits via @atproto/xrpc-server: two concatenated DRISL-CBOR
// items, a header then a body. lex-cbor is the same encoder the PDS uses, so
// CIDs get tag 42 and undefined fields are dropped exactly as upstream.
import { encode } from '@atproto/lex-cbor'
import type { LexValue } from '@atproto/lex-cbor'

export const FRAME_OP_MESSAGE = 1
export const FRAME_OP_ERROR = -1

export type MessageType = '#commit' | '#identity' | '#account' | '#info' | '#sync'

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

export function encodeMessageFrame(type: MessageType | string, body: object): Uint8Array {
  return concat(encode({ op: FRAME_OP_MESSAGE, t: type }), encode(body as LexValue))
}

export function encodeErrorFrame(error: string, message?: string): Uint8Array {
  // The PDS omits `message` when absent rather than encoding null.
  const body: { error: string; message?: string } = message === undefined ? { error } : { error, message }
  return concat(encode({ op: FRAME_OP_ERROR }), encode(body))
}
