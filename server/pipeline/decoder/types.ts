// The decoder interface; the names of the decoders are the configuration's (BACKFILL_DECODER).
import type { DecoderName } from '../../config/index.js'
import type { DecodeResult } from '../../events/index.js'

export type { DecoderName } from '../../config/index.js'

/** Turns one raw subscribeRepos frame into pipeline items. Implementations never throw: bad input becomes a Reject. */
export interface FrameDecoder {
  readonly name: DecoderName
  decode(bytes: Uint8Array): DecodeResult | Promise<DecodeResult>
}
