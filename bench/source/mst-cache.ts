// Generation is CPU-bound, and @atproto/repo re-encodes and re-hashes the same MST node several times per
// commit (for the root pointer, the diff, and each of the three covering-proof walks). An MST node never changes
// after construction (every mutation builds new nodes), so its serialization can be memoized per instance.
import { MST } from '@atproto/repo'

const PATCHED = Symbol.for('skyfill.bench.mstSerializeCache')
type Serialized = Awaited<ReturnType<MST['serialize']>>

const proto = MST.prototype as MST & { [PATCHED]?: true }
if (!proto[PATCHED]) {
  const serialize = proto.serialize
  const cache = new WeakMap<MST, Promise<Serialized>>()
  proto.serialize = function (this: MST): Promise<Serialized> {
    let serialized = cache.get(this)
    if (!serialized) {
      serialized = serialize.call(this)
      cache.set(this, serialized)
    }
    return serialized
  }
  proto[PATCHED] = true
}
