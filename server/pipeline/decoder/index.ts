// Picks the decoder BACKFILL_DECODER names. The 'sync' and 'verified' decoders are loaded on their first frame, not
// at start: they import @atproto/sync and @atproto/identity, which bring @atproto/xrpc-server, pino, OpenTelemetry
// and three versions of undici, about 21 MB of heap (measured, the import alone after a collection) that a server
// running the default 'lean' decoder never uses.
import { createLeanDecoder } from './lean.js'
import { SignatureVerifier } from './signature.js'
import type { DecoderName, FrameDecoder } from './types.js'

export type { DecoderName, FrameDecoder } from './types.js'

const RESOLVE_TIMEOUT_MS = 3000

/** `log` hears, once, which code checks the verified decoder's signatures. */
export function createDecoder(name: DecoderName, opts: { plcUrl: string; log: (line: string) => void }): FrameDecoder {
  switch (name) {
    case 'lean':
      return createLeanDecoder()
    case 'sync':
      return loadedOnFirstFrame(name, async () => (await import('./sync.js')).createSyncDecoder())
    case 'verified': {
      // said at start, not on the first frame: which code checks signatures is part of the configuration
      const signatures = new SignatureVerifier()
      opts.log(`verified decoder: ${signatures.describe()}`)
      return loadedOnFirstFrame(name, () => verifiedDecoder(opts.plcUrl, signatures))
    }
  }
}

function loadedOnFirstFrame(name: DecoderName, load: () => Promise<FrameDecoder>): FrameDecoder {
  let loading: Promise<FrameDecoder> | null = null
  return {
    name,
    async decode(bytes) {
      loading ??= load()
      return (await loading).decode(bytes)
    },
  }
}

// @atproto/identity's default fetch refuses http, localhost and custom ports, so a dev-env PLC would fail every
// lookup. The PLC is the operator's choice and is fetched plainly; did:web and handle lookups, which go wherever
// a user's DID points, keep the SSRF guards.
async function verifiedDecoder(plcUrl: string, signatures: SignatureVerifier): Promise<FrameDecoder> {
  const [{ DidPlcResolver, IdResolver, MemoryCache }, { createVerifiedDecoder }] = await Promise.all([
    import('@atproto/identity'),
    import('./verified.js'),
  ])
  const resolver = new IdResolver({ plcUrl, timeout: RESOLVE_TIMEOUT_MS, didCache: new MemoryCache() })
  resolver.did.methods.set('plc', new DidPlcResolver(plcUrl, RESOLVE_TIMEOUT_MS, undefined, globalThis.fetch))
  return createVerifiedDecoder(resolver, { signatures })
}
