// Commit signatures checked natively (libsecp256k1, or node:crypto without it) must say exactly what
// @atproto/crypto says, on both curves atproto uses, whichever path checks them.
import { randomBytes } from 'node:crypto'
import { type ExportableKeypair, P256Keypair, Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { base58btc } from 'multiformats/bases/base58'
import { beforeAll, describe, expect, it } from 'vitest'
import { type Libsecp256k1, loadLibsecp256k1 } from '../../../server/pipeline/decoder/libsecp256k1.js'
import { DidKeyError, SignatureVerifier } from '../../../server/pipeline/decoder/signature.js'

const ORDERS = {
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
}

/** The other valid signature of the same message: s replaced by n - s (its high-S twin when s is low). */
function highS(sig: Uint8Array, order: bigint): Uint8Array {
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`)
  const twin = Buffer.from((order - s).toString(16).padStart(64, '0'), 'hex')
  return Uint8Array.from([...sig.subarray(0, 32), ...twin])
}

const addon = loadLibsecp256k1().binding

/** The addon, counting the verifications it is asked for. */
function countingAddon(): { lib: Libsecp256k1; calls: () => number } {
  let calls = 0
  const lib: Libsecp256k1 = {
    ecdsaVerify: (...args) => {
      calls++
      return addon!.ecdsaVerify(...args)
    },
    publicKeyConvert: (...args) => addon!.publicKeyConvert(...args),
  }
  return { lib, calls: () => calls }
}

const curves: { name: keyof typeof ORDERS; create: () => Promise<ExportableKeypair>; prefix: string }[] = [
  { name: 'secp256k1', create: () => Secp256k1Keypair.create(), prefix: 'did:key:zQ3s' },
  { name: 'P-256', create: () => P256Keypair.create(), prefix: 'did:key:zDn' },
]
const paths: { path: string; libsecp256k1: Libsecp256k1 | null }[] = [
  { path: 'with libsecp256k1', libsecp256k1: addon },
  { path: 'on node:crypto alone', libsecp256k1: null },
]
const variants = paths.flatMap((p) => curves.map((c) => ({ ...p, ...c })))

describe('the libsecp256k1 addon', () => {
  it('loads on this machine, so the fast path is the one tested', () => {
    expect(loadLibsecp256k1().problem).toBeNull()
    expect(new SignatureVerifier().describe()).toBe('secp256k1 signatures checked by libsecp256k1, P-256 by OpenSSL')
  })

  it('checks secp256k1 signatures, and refuses their high-S twins before asking libsecp256k1', async () => {
    const keypair = await Secp256k1Keypair.create()
    const data = new TextEncoder().encode('a commit, unsigned')
    const sig = await keypair.sign(data)
    const { lib, calls } = countingAddon()
    const verifier = new SignatureVerifier({ libsecp256k1: lib })
    expect(verifier.verify(keypair.did(), data, sig)).toBe(true)
    expect(calls()).toBe(1)
    expect(verifier.verify(keypair.did(), data, highS(sig, ORDERS.secp256k1))).toBe(false)
    expect(calls()).toBe(1)
  })

  it('refuses a high-S twin on its own too', async () => {
    const keypair = await Secp256k1Keypair.create()
    const data = new TextEncoder().encode('a commit, unsigned')
    const twin = highS(await keypair.sign(data), ORDERS.secp256k1)
    const point = Buffer.from(keypair.publicKeyBytes())
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data))
    expect(addon!.ecdsaVerify(twin, digest, point)).toBe(false)
  })

  it('leaves P-256 keys to OpenSSL', async () => {
    const keypair = await P256Keypair.create()
    const data = new TextEncoder().encode('a commit, unsigned')
    const { lib, calls } = countingAddon()
    expect(new SignatureVerifier({ libsecp256k1: lib }).verify(keypair.did(), data, await keypair.sign(data))).toBe(true)
    expect(calls()).toBe(0)
  })

  it('says when secp256k1 is left to OpenSSL', () => {
    expect(new SignatureVerifier({ libsecp256k1: null }).describe()).toBe('secp256k1 and P-256 signatures checked by OpenSSL')
  })
})

describe.each(variants)('$name signatures $path', ({ name, create, prefix, libsecp256k1 }) => {
  const newVerifier = () => new SignatureVerifier({ libsecp256k1 })
  let keypair: ExportableKeypair
  let other: ExportableKeypair
  const data = new TextEncoder().encode('a commit, unsigned')
  let sig: Uint8Array

  beforeAll(async () => {
    keypair = await create()
    other = await create()
    sig = await keypair.sign(data)
    expect(keypair.did().startsWith(prefix)).toBe(true)
  })

  it('accepts a signature made by the key', () => {
    expect(newVerifier().verify(keypair.did(), data, sig)).toBe(true)
  })

  it('refuses the signature for other data', () => {
    const tampered = Uint8Array.from(data)
    tampered[0] ^= 1
    expect(newVerifier().verify(keypair.did(), tampered, sig)).toBe(false)
  })

  it('refuses the signature under another key', () => {
    expect(newVerifier().verify(other.did(), data, sig)).toBe(false)
  })

  it("refuses a signature's high-S twin, which the curve alone would accept", async () => {
    const twin = highS(sig, ORDERS[name])
    expect(await verifySignature(keypair.did(), data, twin, { allowMalleableSig: true })).toBe(true)
    expect(await verifySignature(keypair.did(), data, twin)).toBe(false)
    expect(newVerifier().verify(keypair.did(), data, twin)).toBe(false)
  })

  it('refuses a signature that is not 64 bytes', () => {
    expect(newVerifier().verify(keypair.did(), data, sig.subarray(0, 63))).toBe(false)
  })

  it('agrees with @atproto/crypto on random messages, signatures, tampering and high-S twins', { timeout: 30_000 }, async () => {
    const verifier = newVerifier()
    const cases: { data: Uint8Array; sig: Uint8Array; did: string }[] = []
    for (let i = 0; i < 60; i++) {
      const message = randomBytes(1 + (i % 300))
      const good = await keypair.sign(message)
      const flipped = Uint8Array.from(message)
      flipped[i % message.length] ^= 0x80
      cases.push(
        { data: message, sig: good, did: keypair.did() },
        { data: flipped, sig: good, did: keypair.did() },
        { data: message, sig: highS(good, ORDERS[name]), did: keypair.did() },
        { data: message, sig: good, did: other.did() },
        { data: message, sig: randomBytes(64), did: keypair.did() },
      )
    }
    const ours = cases.map((c) => verifier.verify(c.did, c.data, c.sig))
    const theirs = await Promise.all(cases.map((c) => verifySignature(c.did, c.data, c.sig)))
    expect(ours).toEqual(theirs)
    expect(ours.filter(Boolean)).toHaveLength(60)
  })
})

describe('signing keys', () => {
  it('refuses a did:key that is neither secp256k1 nor P-256', () => {
    // an ed25519 multikey (multicodec 0xed01)
    const ed25519 = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
    expect(() => new SignatureVerifier().verify(ed25519, new Uint8Array(1), new Uint8Array(64))).toThrow(DidKeyError)
  })

  it.each(paths)('refuses a secp256k1 key that is not a point on the curve, $path', ({ libsecp256k1 }) => {
    // x = p (the field's size) is no coordinate at all
    const x = Buffer.from('fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f', 'hex')
    const didKey = `did:key:${base58btc.encode(Uint8Array.from([0xe7, 0x01, 0x02, ...x]))}`
    expect(() => new SignatureVerifier({ libsecp256k1 }).verify(didKey, new Uint8Array(1), new Uint8Array(64))).toThrow(/is not a point on secp256k1/)
  })

  it('refuses a key that is not base58btc multibase', () => {
    expect(() => new SignatureVerifier().verify('did:key:Q3sh', new Uint8Array(1), new Uint8Array(64))).toThrow(/not a base58btc did:key/)
  })
})
