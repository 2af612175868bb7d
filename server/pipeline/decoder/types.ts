import type { DecodeResult } from '../events.js'

export type DecoderName = 'lean' | 'sync' | 'verified'

/** Turns one raw subscribeRepos frame into pipeline items. Implementations never throw: bad input becomes a Reject. */
export interface FrameDecoder {
  readonly name: DecoderName
  decode(bytes: Uint8Array): DecodeResult | Promise<DecodeResult>
}
