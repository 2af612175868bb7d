// Records per second for the peer need the number of record operations in the events it handled. The peer keeps
// no such count (its `record` table loses a row on every delete), so it is read from the frames themselves: the
// create, update and delete ops of every #commit frame up to a seq, as the firehose sent them.
import { decodeAll } from '@atproto/lex-cbor'
import type { StoredFrame } from '../source/store.js'

type Header = { op?: number; t?: string }
type CommitBody = { ops?: unknown[] }

/** Record ops in the #commit frames with seq ≤ `upToSeq`; `frames` in seq order. */
export async function recordOpsUpTo(frames: AsyncIterable<StoredFrame> | Iterable<StoredFrame>, upToSeq: number): Promise<number> {
  let ops = 0
  for await (const frame of frames) {
    if (frame.seq > upToSeq) break
    const [header, body] = decodeAll(frame.bytes) as Generator<Header & CommitBody>
    if (header?.op === 1 && header.t === '#commit' && Array.isArray(body?.ops)) ops += body.ops.length
  }
  return ops
}
