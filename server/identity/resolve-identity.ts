// Who an account is and where its repository lives, as skyfill serves it: the PDS endpoint and signing key from the
// DID document, and the handle only when it is verified both ways (the document claims it, and it resolves back to
// this DID). Anything short of that is served as handle.invalid, with the reason in `problem`.
import { isValidHandle } from '@atproto/syntax'
import { describeAddress } from '../net/address-guard.js'
import type { HostLimiter } from '../net/limiter.js'
import type { DidDocumentInfo } from './did-document.js'
import { resolveDid } from './did-resolver.js'
import { IdentityError } from './errors.js'
import { resolveHandle } from './handle-resolver.js'

export type ResolvedIdentity = {
  did: string
  /** Verified both ways, lower-cased; null is served as handle.invalid. */
  handle: string | null
  /** The handle the document claims, as written. */
  claimedHandle: string | null
  /** Where the repository lives; null when the document names none usable. */
  pdsUrl: string | null
  /** The #atproto key as a did:key. */
  signingKey: string | null
  /** What stands in the way of a verified handle or a usable PDS, or null. */
  problem: string | null
  /** The problem is passing (the handle could not be checked just now): ask again soon, keep what was known. */
  retryable: boolean
}

export type IdentityDeps = {
  resolveDid(did: string): Promise<DidDocumentInfo>
  /** The DID a handle resolves to, null if none; throws an 'unavailable' IdentityError when it cannot tell now. */
  resolveHandle(handle: string): Promise<string | null>
  /** ALLOW_PRIVATE_HOSTS: without it, a PDS endpoint written as a private address is not usable. */
  allowPrivate: boolean
}

export type IdentityNetworkOptions = {
  plcUrl: string
  handleResolverUrl?: string | null
  allowPrivate: boolean
  /** Per request: connecting, headers, and the longest stall of a body. */
  timeoutMs: number
  limiter?: HostLimiter
  /** Aborts every request in flight or waiting for a permit (shutdown). */
  signal?: AbortSignal
}

/** The resolvers that go to the network: PLC, did:web hosts, DNS, handle hosts or HANDLE_RESOLVER_URL. */
export function networkIdentityDeps(opts: IdentityNetworkOptions): IdentityDeps {
  return {
    resolveDid: (did) => resolveDid(did, opts),
    resolveHandle: (handle) => resolveHandle(handle, opts),
    allowPrivate: opts.allowPrivate,
  }
}

/** Throws the IdentityError of the DID document when there is none to read; everything after is in the result. */
export async function resolveIdentity(did: string, deps: IdentityDeps): Promise<ResolvedIdentity> {
  const doc = await deps.resolveDid(did)
  const problems = [...doc.problems]
  const pdsRefusal = doc.pdsUrl !== null && !deps.allowPrivate ? privateEndpoint(doc.pdsUrl) : null
  if (pdsRefusal) problems.push(pdsRefusal)
  const check = await verifyHandle(did, doc.claimedHandle, deps)
  if (check.problem) problems.push(check.problem)
  return {
    did,
    handle: check.handle,
    claimedHandle: doc.claimedHandle,
    pdsUrl: pdsRefusal ? null : doc.pdsUrl,
    signingKey: doc.signingKey,
    problem: problems.length ? problems.join('; ') : null,
    retryable: check.retryable,
  }
}

type HandleCheck = { handle: string | null; problem: string | null; retryable: boolean }

async function verifyHandle(did: string, claimed: string | null, deps: IdentityDeps): Promise<HandleCheck> {
  // No claim: the document's own problems already say so.
  if (claimed === null) return { handle: null, problem: null, retryable: false }
  const handle = claimed.toLowerCase()
  const shown = JSON.stringify(claimed.slice(0, 260))
  if (!isValidHandle(handle)) {
    return { handle: null, problem: `claimed handle ${shown} is not a valid handle`, retryable: false }
  }
  let resolved: string | null
  try {
    resolved = await deps.resolveHandle(handle)
  } catch (err) {
    if (!(err instanceof IdentityError) || !err.retryable) throw err
    return { handle: null, problem: `claimed handle ${shown} could not be checked: ${err.message}`, retryable: true }
  }
  if (resolved === did) return { handle, problem: null, retryable: false }
  const problem =
    resolved === null
      ? `claimed handle ${shown} does not resolve to a DID`
      : `claimed handle ${shown} resolves to ${resolved}, not to this DID`
  return { handle: null, problem, retryable: false }
}

/**
 * A PDS endpoint written as a private address (or localhost) can never be fetched with the address guard on; a
 * hostname that resolves to one is refused when the repository is fetched, at connect time.
 */
function privateEndpoint(pdsUrl: string): string | null {
  const host = new URL(pdsUrl).hostname.replace(/^\[(.*)\]$/, '$1')
  const why = host === 'localhost' || host.endsWith('.localhost') ? 'localhost' : describeAddress(host)
  if (why === null || why.startsWith('not an IP address')) return null
  return `PDS endpoint ${pdsUrl} is refused: ${why} (ALLOW_PRIVATE_HOSTS is off)`
}
