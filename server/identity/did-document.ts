// What skyfill needs from a DID document, read without trusting its shape: the document is written by whoever
// controls the DID. A document for another DID is refused whole; a missing or unusable PDS endpoint, handle or
// key only leaves that field empty, with the reason in `problems`.
import { formatDidKey, multibaseToBytes, P256_JWT_ALG, parseMultikey, SECP256K1_JWT_ALG } from '@atproto/crypto'
import { IdentityError } from './errors.js'

export type DidDocumentInfo = {
  did: string
  /** The first `at://` alias, exactly as written: not yet verified, not necessarily a valid handle. */
  claimedHandle: string | null
  /** The `#atproto_pds` endpoint (an http(s) URL, no trailing slash). */
  pdsUrl: string | null
  /** The `#atproto` verification method as a did:key. */
  signingKey: string | null
  /** Why a field above is null, one sentence each. */
  problems: string[]
}

/** Throws an 'invalid-document' IdentityError when `doc` is not a DID document for `did`. */
export function parseDidDocument(did: string, doc: unknown): DidDocumentInfo {
  if (!isRecord(doc)) {
    throw new IdentityError('invalid-document', did, `the document is ${describe(doc)}, not a JSON object`)
  }
  if (doc.id !== did) {
    throw new IdentityError('invalid-document', did, `the document is for ${JSON.stringify(doc.id)}, not for this DID`)
  }
  const problems: string[] = []
  const take = (reading: Reading): string | null => {
    if ('value' in reading) return reading.value
    problems.push(reading.problem)
    return null
  }
  return {
    did,
    claimedHandle: take(claimedHandle(doc.alsoKnownAs)),
    pdsUrl: take(pdsEndpoint(did, doc.service)),
    signingKey: take(signingKey(did, doc.verificationMethod)),
    problems,
  }
}

type Reading = { value: string } | { problem: string }

function claimedHandle(aliases: unknown): Reading {
  if (aliases === undefined) return { problem: 'the document claims no handle (no alsoKnownAs)' }
  if (!Array.isArray(aliases)) return { problem: `alsoKnownAs is ${describe(aliases)}, not a list` }
  const alias = aliases.find((a): a is string => typeof a === 'string' && a.startsWith('at://'))
  if (alias === undefined) return { problem: 'the document claims no handle (no at:// alias in alsoKnownAs)' }
  return { value: alias.slice('at://'.length) }
}

function pdsEndpoint(did: string, services: unknown): Reading {
  const service = findById(did, services, '#atproto_pds')
  if (service === null) return { problem: 'the document names no PDS (no #atproto_pds service)' }
  if (typeof service === 'string') return { problem: `service ${service}` }
  if (service.type !== 'AtprotoPersonalDataServer') {
    return { problem: `#atproto_pds is of type ${JSON.stringify(service.type)}, not AtprotoPersonalDataServer` }
  }
  const endpoint = service.serviceEndpoint
  if (typeof endpoint !== 'string') return { problem: `#atproto_pds endpoint is ${describe(endpoint)}, not a URL` }
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return { problem: `#atproto_pds endpoint ${JSON.stringify(endpoint.slice(0, 200))} is not a URL` }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { problem: `#atproto_pds endpoint ${JSON.stringify(endpoint.slice(0, 200))} is not an http(s) URL` }
  }
  return { value: endpoint.replace(/\/+$/, '') }
}

function signingKey(did: string, methods: unknown): Reading {
  const method = findById(did, methods, '#atproto')
  if (method === null) return { problem: 'the document has no #atproto verification method' }
  if (typeof method === 'string') return { problem: `verificationMethod ${method}` }
  const { type, publicKeyMultibase } = method
  if (typeof type !== 'string' || typeof publicKeyMultibase !== 'string') {
    return { problem: '#atproto verification method has no type and publicKeyMultibase' }
  }
  let didKey: string | undefined
  try {
    didKey = didKeyOf(type, publicKeyMultibase)
  } catch (err) {
    const shown = JSON.stringify(publicKeyMultibase.slice(0, 100))
    return { problem: `#atproto key ${shown} does not decode: ${(err as Error).message}` }
  }
  return didKey ? { value: didKey } : { problem: `#atproto key is of unsupported type ${JSON.stringify(type)}` }
}

// From @atproto/crypto rather than @atproto/identity's helper: importing @atproto/identity loads
// @atproto-labs/fetch-node and with it three versions of undici, about 11 MB of heap that an idle server never uses.
/** The verification method's key as a did:key; undefined for a key type atproto does not use. */
function didKeyOf(type: string, publicKeyMultibase: string): string | undefined {
  switch (type) {
    case 'Multikey': {
      const { jwtAlg, keyBytes } = parseMultikey(publicKeyMultibase)
      return formatDidKey(jwtAlg, keyBytes)
    }
    case 'EcdsaSecp256r1VerificationKey2019':
      return formatDidKey(P256_JWT_ALG, multibaseToBytes(publicKeyMultibase))
    case 'EcdsaSecp256k1VerificationKey2019':
      return formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(publicKeyMultibase))
    default:
      return undefined
  }
}

/** The entry whose id is `#fragment` or `<did>#fragment`; a string when the list itself is malformed. */
function findById(did: string, list: unknown, fragment: string): Record<string, unknown> | string | null {
  if (list === undefined) return null
  if (!Array.isArray(list)) return `is ${describe(list)}, not a list`
  const entry = list.find((item) => isRecord(item) && (item.id === fragment || item.id === `${did}${fragment}`))
  return (entry as Record<string, unknown> | undefined) ?? null
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  return typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 100))}` : `a ${typeof value}`
}
