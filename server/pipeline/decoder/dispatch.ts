// The frame kinds every decoder treats alike are answered here; only repo messages (commit, identity, account)
// reach the decoder's own handler, which is where the decoders differ.
import type { DecodeResult, PipelineItem } from '../../events/index.js'
import { type AccountBody, type CommitBody, type IdentityBody, type ParsedFrame, parseFrame } from './frame.js'
import { frameResult, internalErrorResult, invalidFrameResult, syncResult, unknownTypeResult } from './items.js'
import type { DecoderName, FrameDecoder } from './types.js'

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

/** How an asynchronous decoder reads each repo message. */
export type RepoReaders = {
  commit(body: CommitBody): Promise<PipelineItem[]>
  identity(body: IdentityBody): PipelineItem | Promise<PipelineItem>
  account(body: AccountBody): PipelineItem
}

/** A decoder whose repo messages are read asynchronously; whatever throws becomes a reject, never a lost frame. */
export function asyncDecoder(name: DecoderName, read: RepoReaders): FrameDecoder {
  const repoMessage = async (message: RepoMessage): Promise<DecodeResult> => {
    const { seq, time } = message.body
    switch (message.kind) {
      case 'commit':
        return frameResult(seq, time, await read.commit(message.body))
      case 'identity':
        return frameResult(seq, time, [await read.identity(message.body)])
      case 'account':
        return frameResult(seq, time, [read.account(message.body)])
    }
  }
  return {
    name,
    async decode(bytes) {
      try {
        return await dispatch(bytes, repoMessage)
      } catch (err) {
        return internalErrorResult(err, bytes)
      }
    },
  }
}
