// Commit signatures, checked natively instead of by @atproto/crypto's pure-JS curves, which cost several times the
// rest of a verified decode: secp256k1 by libsecp256k1 (its native addon) when it loads, P-256 and, without the
// addon, secp256k1 too by OpenSSL through node:crypto. The rules are atproto's, whichever path checks: a did:key
// multikey on secp256k1 (zQ3s…) or P-256 (zDn…), ECDSA over SHA-256 of the commit's unsigned bytes, the signature
// as 64 bytes r‖s, and only its low-S form (s ≤ n/2): the high-S twin of a valid signature is refused, as the spec
// requires. The one place these rules live: the firehose's verified decoder and the repository CARs both use it.
import { type KeyObject, createPublicKey, hash, verify } from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'
import { type Libsecp256k1, loadLibsecp256k1 } from './libsecp256k1.js'

const DID_KEY_PREFIX = 'did:key:'
const COMPRESSED_POINT_LENGTH = 33
const SCALAR_LENGTH = 32

type CurveName = 'secp256k1' | 'P-256'
type Curve = { name: CurveName; multicodec: readonly [number, number]; spkiPrefix: Buffer; halfOrder: bigint }

// An SPKI DER for a compressed point is a fixed prefix (the curve's OIDs) and the 33 point bytes; OpenSSL
// decompresses the point itself.
const CURVES: readonly Curve[] = [
  {
    name: 'secp256k1',
    multicodec: [0xe7, 0x01],
    spkiPrefix: Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
    halfOrder: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n,
  },
  {
    name: 'P-256',
    multicodec: [0x80, 0x24],
    spkiPrefix: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
    halfOrder: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n,
  },
]

export class DidKeyError extends Error {
  override readonly name = 'DidKeyError'
}

/** A parsed key and the path that checks its signatures: libsecp256k1 takes the point uncompressed, OpenSSL a KeyObject. */
type PublicKey = { curve: Curve; check: (data: Uint8Array, sig: Uint8Array) => boolean }

export type SignatureVerifierOptions = {
  /** Parsed keys kept (one per repo signing key seen lately): parsing a key and decompressing its point costs more than a verification. */
  maxKeys?: number
  /** libsecp256k1 for secp256k1 keys, or null for node:crypto; by default the addon when it loads. */
  libsecp256k1?: Libsecp256k1 | null
}

export class SignatureVerifier {
  private readonly keys = new Map<string, PublicKey>()
  private readonly maxKeys: number
  private readonly libsecp256k1: Libsecp256k1 | null
  /** Why libsecp256k1 is not used when it was not handed in and could not be loaded; null otherwise. */
  private readonly unavailable: string | null

  constructor(opts: SignatureVerifierOptions = {}) {
    this.maxKeys = opts.maxKeys ?? 100_000
    if (opts.libsecp256k1 !== undefined) {
      this.libsecp256k1 = opts.libsecp256k1
      this.unavailable = null
    } else {
      const { binding, problem } = loadLibsecp256k1()
      this.libsecp256k1 = binding
      this.unavailable = problem
    }
  }

  /** Which code checks which curve, for the log. */
  describe(): string {
    if (this.libsecp256k1) return 'secp256k1 signatures checked by libsecp256k1, P-256 by OpenSSL'
    const why = this.unavailable ? ` (libsecp256k1 cannot be loaded: ${this.unavailable})` : ''
    return `secp256k1 and P-256 signatures checked by OpenSSL${why}`
  }

  /** True when `sig` is a valid low-S signature of `data` by `didKey`; throws DidKeyError for an unusable key. */
  verify(didKey: string, data: Uint8Array, sig: Uint8Array): boolean {
    const { curve, check } = this.publicKey(didKey)
    if (sig.length !== 2 * SCALAR_LENGTH) return false
    const s = BigInt(`0x${Buffer.from(sig.buffer, sig.byteOffset + SCALAR_LENGTH, SCALAR_LENGTH).toString('hex')}`)
    if (s > curve.halfOrder) return false
    return check(data, sig)
  }

  private publicKey(didKey: string): PublicKey {
    let known = this.keys.get(didKey)
    if (!known) {
      known = this.parse(didKey)
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!)
      this.keys.set(didKey, known)
    }
    return known
  }

  private parse(didKey: string): PublicKey {
    const { curve, point } = parseDidKey(didKey)
    if (curve.name === 'secp256k1' && this.libsecp256k1) return { curve, check: nativeCheck(this.libsecp256k1, didKey, point) }
    return { curve, check: opensslCheck(didKey, curve, point) }
  }
}

function parseDidKey(didKey: string): { curve: Curve; point: Uint8Array } {
  if (!didKey.startsWith(`${DID_KEY_PREFIX}z`)) throw new DidKeyError(`signing key ${didKey} is not a base58btc did:key`)
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(didKey.slice(DID_KEY_PREFIX.length))
  } catch (err) {
    throw new DidKeyError(`signing key ${didKey} is not valid base58btc: ${(err as Error).message}`)
  }
  const curve = CURVES.find((c) => bytes[0] === c.multicodec[0] && bytes[1] === c.multicodec[1])
  if (!curve) throw new DidKeyError(`signing key ${didKey} is neither a secp256k1 nor a P-256 multikey`)
  const point = bytes.subarray(2)
  if (point.length !== COMPRESSED_POINT_LENGTH) {
    throw new DidKeyError(`signing key ${didKey} holds ${point.length} point bytes, expected a ${COMPRESSED_POINT_LENGTH}-byte compressed point`)
  }
  return { curve, point }
}

function opensslCheck(didKey: string, curve: Curve, point: Uint8Array): PublicKey['check'] {
  let key: KeyObject
  try {
    key = createPublicKey({ key: Buffer.concat([curve.spkiPrefix, point]), format: 'der', type: 'spki' })
  } catch (err) {
    throw new DidKeyError(`signing key ${didKey} is not a point on ${curve.name}: ${(err as Error).message}`)
  }
  return (data, sig) => verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
}

// The point is decompressed once here: libsecp256k1 would otherwise do it on every verification.
function nativeCheck(lib: Libsecp256k1, didKey: string, point: Uint8Array): PublicKey['check'] {
  let uncompressed: Uint8Array
  try {
    uncompressed = lib.publicKeyConvert(point, false)
  } catch (err) {
    throw new DidKeyError(`signing key ${didKey} is not a point on secp256k1: ${(err as Error).message}`)
  }
  return (data, sig) => {
    try {
      return lib.ecdsaVerify(sig, hash('sha256', data, 'buffer'), uncompressed)
    } catch {
      // r or s is zero or not below the group order: no signature at all, as OpenSSL says too
      return false
    }
  }
}
