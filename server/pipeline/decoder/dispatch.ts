// The frame kinds every decoder treats alike are answered here; only repo messages (commit, identity, account)
// reach the decoder's own handler, which is where the decoders differ.
import type { DecodeResult } from '../../events/index.js'
import { type ParsedFrame, parseFrame } from './frame.js'
import { invalidFrameResult, syncResult, unknownTypeResult } from './items.js'

export type RepoMessage = Extract<ParsedFrame, { kind: 'commit' | 'identity' | 'account' }>

export function dispatch<R>(bytes: Uint8Array, onRepoMessage: (message: RepoMessage) => R): DecodeResult | R {
  const parsed = parseFrame(bytes)
  switch (parsed.kind) {
    case 'info':
    case 'error':
      return parsed
    case 'invalid':
      return invalidFrameResult(parsed, bytes)
    case 'unknown':
      return unknownTypeResult(parsed)
    case 'sync':
      return syncResult(parsed.body)
    default:
      return onRepoMessage(parsed)
  }
}
