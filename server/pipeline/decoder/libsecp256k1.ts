// libsecp256k1 through the `secp256k1` package's native addon: a secp256k1 verification costs about a sixth of
// OpenSSL's through node:crypto. Only the addon is taken, never the package's main entry, which falls back to
// pure-JS elliptic without a word when the addon is missing; here a missing addon is reported, and the caller
// keeps node:crypto.
import { createRequire } from 'node:module'

/** The few calls of the addon we use; keys and signatures are raw bytes, as libsecp256k1 takes them. */
export type Libsecp256k1 = {
  /** True for a valid signature; libsecp256k1 itself refuses high-S signatures. Throws for r or s not below n. */
  ecdsaVerify(sig64: Uint8Array, msg32: Uint8Array, publicKey: Uint8Array): boolean
  /** The point re-encoded (65 bytes uncompressed when `compressed` is false); throws for a point not on the curve. */
  publicKeyConvert(publicKey: Uint8Array, compressed: boolean): Uint8Array
}

export type Libsecp256k1Load = { binding: Libsecp256k1; problem: null } | { binding: null; problem: string }

let loaded: Libsecp256k1Load | undefined

/** The addon, loaded once per process; `problem` says why it could not be. */
export function loadLibsecp256k1(): Libsecp256k1Load {
  loaded ??= load()
  return loaded
}

function load(): Libsecp256k1Load {
  try {
    return { binding: createRequire(import.meta.url)('secp256k1/bindings.js') as Libsecp256k1, problem: null }
  } catch (err) {
    return { binding: null, problem: (err as Error).message.split('\n')[0] }
  }
}
