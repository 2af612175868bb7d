// Commit signatures checked by OpenSSL through node:crypto instead of @atproto/crypto's pure-JS curves, which
// cost several times the rest of a verified decode. The rules are atproto's: a did:key multikey on secp256k1
// (zQ3s…) or P-256 (zDn…), ECDSA over SHA-256 of the commit's unsigned bytes, the signature as 64 bytes r‖s,
// and only its low-S form (s ≤ n/2): the high-S twin of a valid signature is refused, as the spec requires.
import { type KeyObject, createPublicKey, verify } from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'

const DID_KEY_PREFIX = 'did:key:'
const COMPRESSED_POINT_LENGTH = 33
const SCALAR_LENGTH = 32

type Curve = { name: string; multicodec: readonly [number, number]; spkiPrefix: Buffer; halfOrder: bigint }

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

type PublicKey = { key: KeyObject; curve: Curve }

/**
 * Verifies signatures by did:key, keeping up to `maxKeys` parsed keys (one per repo signing key seen lately):
 * parsing a key and decompressing its point costs more than a verification.
 */
export class SignatureVerifier {
  private readonly keys = new Map<string, PublicKey>()

  constructor(private readonly maxKeys = 100_000) {}

  /** True when `sig` is a valid low-S signature of `data` by `didKey`; throws DidKeyError for an unusable key. */
  verify(didKey: string, data: Uint8Array, sig: Uint8Array): boolean {
    const { key, curve } = this.publicKey(didKey)
    if (sig.length !== 2 * SCALAR_LENGTH) return false
    const s = BigInt(`0x${Buffer.from(sig.buffer, sig.byteOffset + SCALAR_LENGTH, SCALAR_LENGTH).toString('hex')}`)
    if (s > curve.halfOrder) return false
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
  }

  private publicKey(didKey: string): PublicKey {
    let known = this.keys.get(didKey)
    if (!known) {
      known = parseDidKey(didKey)
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!)
      this.keys.set(didKey, known)
    }
    return known
  }
}

function parseDidKey(didKey: string): PublicKey {
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
  try {
    return { key: createPublicKey({ key: Buffer.concat([curve.spkiPrefix, point]), format: 'der', type: 'spki' }), curve }
  } catch (err) {
    throw new DidKeyError(`signing key ${didKey} is not a point on ${curve.name}: ${(err as Error).message}`)
  }
}
