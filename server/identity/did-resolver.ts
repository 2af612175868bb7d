// DID → its document: did:plc from the PLC directory the operator configured (PLC_URL: trusted, so any address, but
// still bounded in time and size), did:web from the host named in the DID (untrusted: the address guard applies).
// Failures come out as IdentityError kinds, so a caller can tell a DID that is gone from a directory that is down.
import { FetchError, safeFetch, type SafeFetchOptions } from '../net/safe-fetch.js'
import type { HostLimiter } from '../net/limiter.js'
import { parseDidDocument, type DidDocumentInfo } from './did-document.js'
import { IdentityError } from './errors.js'

export type DidResolverOptions = {
  /** The PLC directory, e.g. https://plc.directory. */
  plcUrl: string
  /** ALLOW_PRIVATE_HOSTS: applies to did:web hosts (the PLC directory is the operator's choice). */
  allowPrivate: boolean
  /** Connecting plus headers, and the longest stall of the body. */
  timeoutMs: number
  /** Largest document accepted (default 64 KiB; real ones are 1-2 KiB). */
  maxBytes?: number
  limiter?: HostLimiter
  signal?: AbortSignal
}

const DEFAULT_MAX_BYTES = 64 * 1024
const ACCEPT = 'application/did+ld+json, application/json'
const PLC_DID = /^did:plc:[a-z2-7]{24}$/
// atproto uses did:web for hostnames only (no path segments), the port percent-encoded.
const WEB_DID = /^did:web:([a-zA-Z0-9.-]+(?:%3[aA]\d{1,5})?)$/

export async function resolveDid(did: string, opts: DidResolverOptions): Promise<DidDocumentInfo> {
  return parseDidDocument(did, await fetchDocumentFor(did, opts))
}

function fetchDocumentFor(did: string, opts: DidResolverOptions): Promise<unknown> {
  const unsupported = (why: string) =>
    new IdentityError('unsupported-method', did, `${why} (atproto uses did:plc and hostname-only did:web)`)
  if (did.startsWith('did:plc:')) {
    if (!PLC_DID.test(did)) throw unsupported('is not a well-formed did:plc')
    let url: URL
    try {
      url = new URL(`/${encodeURIComponent(did)}`, opts.plcUrl)
    } catch {
      throw new IdentityError('unavailable', did, `the PLC directory URL ${JSON.stringify(opts.plcUrl)} is not a URL`)
    }
    return fetchDocument(did, url, { ...fetchOptions(opts), allowPrivate: true }, 'directory')
  }
  if (did.startsWith('did:web:')) {
    const match = WEB_DID.exec(did)
    if (!match) throw unsupported('is a did:web form atproto does not use')
    const host = decodeURIComponent(match[1])
    // As in the reference resolver: did:web:localhost%3A<port> is how local test networks write did:web.
    const scheme = host === 'localhost' || host.startsWith('localhost:') ? 'http' : 'https'
    const url = new URL(`${scheme}://${host}/.well-known/did.json`)
    return fetchDocument(did, url, { ...fetchOptions(opts), allowPrivate: opts.allowPrivate }, 'did-host')
  }
  const method = /^did:([a-z0-9]+):/.exec(did)?.[1]
  throw unsupported(method === undefined ? 'is not a DID' : `uses the unsupported method did:${method}`)
}

function fetchOptions(opts: DidResolverOptions): Omit<SafeFetchOptions, 'allowPrivate'> {
  return {
    timeoutMs: opts.timeoutMs,
    idleTimeoutMs: opts.timeoutMs,
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES,
    limiter: opts.limiter,
    signal: opts.signal,
    accept: ACCEPT,
  }
}

/**
 * `directory`: the PLC directory, whose host not resolving says nothing about the DID (our network, or PLC_URL, is
 * wrong); `did-host`: the host named in a did:web, whose name not existing means the DID has no document.
 */
type DocumentHost = 'directory' | 'did-host'

async function fetchDocument(did: string, url: URL, opts: SafeFetchOptions, host: DocumentHost): Promise<unknown> {
  try {
    const res = await safeFetch(url, opts)
    if (res.status === 200) return await res.json()
    res.cancel()
    if (res.status === 404 || res.status === 410) {
      throw new IdentityError('not-found', did, `no document at ${url.origin} (HTTP ${res.status})`)
    }
    throw new IdentityError('unavailable', did, `${url.origin} answered HTTP ${res.status} for the document`)
  } catch (err) {
    if (err instanceof IdentityError) throw err
    if (err instanceof SyntaxError) throw new IdentityError('invalid-document', did, err.message)
    if (!(err instanceof FetchError)) throw err
    throw new IdentityError(fetchErrorKind(err, host), did, `fetching the document failed: ${err.message}`)
  }
}

function fetchErrorKind(err: FetchError, host: DocumentHost): IdentityError['kind'] {
  switch (err.kind) {
    case 'refused-address':
      return 'refused'
    case 'bad-url':
    case 'redirect-loop':
    case 'too-many-redirects':
    case 'too-large':
      return 'invalid-document'
    case 'network':
      // A did:web host whose name does not exist has no document; anything else may pass.
      return err.code === 'ENOTFOUND' && host === 'did-host' ? 'not-found' : 'unavailable'
    case 'timeout':
    case 'stalled':
    case 'aborted':
      return 'unavailable'
  }
}
