// Synthetic account identities, derived from the seed alone so that a workload regenerated from the same
// parameters names the same DIDs and signs with the same keys. The DIDs never resolve: replay is unauthenticated,
// and consumers that want to verify signatures take the signing key from the generator instead.
import { Secp256k1Keypair } from '@atproto/crypto'
import { derive } from './prng.js'

export type SyntheticAccount = { index: number; did: string; handle: string }

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj']

function base32(bytes: Uint8Array, length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += BASE32[bytes[i] & 31]
  return out
}

export function syntheticAccount(seed: string, index: number): SyntheticAccount {
  const did = `did:plc:${base32(derive(seed, `did:${index}`), 24)}`
  // The seed tag keeps handles of workloads with different seeds apart when they share one database.
  const handle = `${NAMES[index % NAMES.length]}${index}-${base32(derive(seed, 'handle'), 4)}.skyfill.test`
  return { index, did, handle }
}

export function accountKeypair(seed: string, index: number): Promise<Secp256k1Keypair> {
  // A sha256 digest is a valid secp256k1 scalar except with probability ~2^-128.
  return Secp256k1Keypair.import(derive(seed, `key:${index}`))
}
