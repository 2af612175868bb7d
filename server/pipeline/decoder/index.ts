import { DidPlcResolver, IdResolver, MemoryCache } from '@atproto/identity'
import { createLeanDecoder } from './lean.js'
import { createSyncDecoder } from './sync.js'
import { SignatureVerifier } from './signature.js'
import { createVerifiedDecoder } from './verified.js'
import type { DecoderName, FrameDecoder } from './types.js'

export type { DecoderName, FrameDecoder } from './types.js'

const RESOLVE_TIMEOUT_MS = 3000

/** `log` hears, once, which code checks the verified decoder's signatures. */
export function createDecoder(name: DecoderName, opts: { plcUrl: string; log: (line: string) => void }): FrameDecoder {
  switch (name) {
    case 'lean':
      return createLeanDecoder()
    case 'sync':
      return createSyncDecoder()
    case 'verified': {
      const signatures = new SignatureVerifier()
      opts.log(`verified decoder: ${signatures.describe()}`)
      return createVerifiedDecoder(verifyingResolver(opts.plcUrl), { signatures })
    }
  }
}

// @atproto/identity's default fetch refuses http, localhost and custom ports, so a dev-env PLC would fail every
// lookup. The PLC is the operator's choice and is fetched plainly; did:web and handle lookups, which go wherever
// a user's DID points, keep the SSRF guards.
function verifyingResolver(plcUrl: string): IdResolver {
  const resolver = new IdResolver({ plcUrl, timeout: RESOLVE_TIMEOUT_MS, didCache: new MemoryCache() })
  resolver.did.methods.set('plc', new DidPlcResolver(plcUrl, RESOLVE_TIMEOUT_MS, undefined, globalThis.fetch))
  return resolver
}
