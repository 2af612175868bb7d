// Handle → DID, the second half of verifying a handle (the first is the DID document claiming it). On the public
// network: a DNS TXT record `_atproto.<handle>` (`did=<did>`, exactly one distinct DID), else
// `https://<handle>/.well-known/atproto-did` through the address guard. On a private network or a test one (whose
// handles, like alice.test, have no DNS), HANDLE_RESOLVER_URL names a service that answers
// com.atproto.identity.resolveHandle instead. null means the handle does not resolve; IdentityError 'unavailable'
// means the answer could not be had just now.
import dnsPromises from 'node:dns/promises'
import { isValidDid, isValidHandle, isValidTld } from '@atproto/syntax'
import { FetchError, safeFetch } from '../net/safe-fetch.js'
import type { HostLimiter } from '../net/limiter.js'
import { IdentityError } from './errors.js'

export type HandleResolverOptions = {
  /** HANDLE_RESOLVER_URL: ask this service (trusted: any address) instead of DNS and the handle's host. */
  handleResolverUrl?: string | null
  /** ALLOW_PRIVATE_HOSTS: applies to `https://<handle>/.well-known/atproto-did`. */
  allowPrivate: boolean
  timeoutMs: number
  limiter?: HostLimiter
  signal?: AbortSignal
  /** Where TXT records come from (default the system resolver; a dns.promises.Resolver for chosen servers). */
  dns?: { resolveTxt(name: string): Promise<string[][]> }
}

// A DID and a little JSON around it.
const ANSWER_MAX_BYTES = 2048
// DNS answers that mean "no such record", as opposed to "could not ask".
const DNS_NO_RECORD = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN'])
// Answers from the handle's host that mean it does not vouch for any DID.
const HTTP_NO_ANSWER = new Set<FetchError['kind']>([
  'refused-address',
  'bad-url',
  'redirect-loop',
  'too-many-redirects',
  'too-large',
])

/** The DID a set of `_atproto` TXT records names: null for none, 'ambiguous' for more than one distinct DID. */
export function didFromTxtRecords(records: string[][]): string | null | 'ambiguous' {
  const dids = new Set(
    records
      .map((chunks) => chunks.join(''))
      .filter((text) => text.startsWith('did='))
      .map((text) => text.slice('did='.length).trim()),
  )
  if (dids.size > 1) return 'ambiguous'
  const [did] = dids
  return did !== undefined && isValidDid(did) ? did : null
}

/** The DID in an atproto-did file: its first line, when that is a DID. */
export function didFromWellKnown(body: string): string | null {
  const first = body.split('\n')[0].trim()
  return isValidDid(first) ? first : null
}

export async function resolveHandle(handle: string, opts: HandleResolverOptions): Promise<string | null> {
  const name = handle.toLowerCase()
  // Also keeps anything but a hostname out of the URLs below; .invalid, .local, .onion ... never resolve.
  if (!isValidHandle(name) || !isValidTld(name)) return null
  if (opts.handleResolverUrl) return viaResolverService(name, opts.handleResolverUrl, opts)
  const fromDns = await viaDns(name, opts)
  if (fromDns === 'ambiguous') return null
  if (typeof fromDns === 'string') return fromDns
  const fromHttp = await viaWellKnown(name, opts)
  if (fromHttp !== null) return fromHttp
  // The host vouches for nothing, but DNS could not be asked: that is no answer yet.
  if (fromDns instanceof IdentityError) throw fromDns
  return null
}

async function viaResolverService(handle: string, base: string, opts: HandleResolverOptions): Promise<string | null> {
  const url = new URL('/xrpc/com.atproto.identity.resolveHandle', base)
  url.searchParams.set('handle', handle)
  try {
    const res = await safeFetch(url, {
      allowPrivate: true,
      timeoutMs: opts.timeoutMs,
      idleTimeoutMs: opts.timeoutMs,
      maxBytes: ANSWER_MAX_BYTES,
      limiter: opts.limiter,
      signal: opts.signal,
      accept: 'application/json',
    })
    // 400 is how resolveHandle says it knows no such handle.
    if (res.status === 400) {
      res.cancel()
      return null
    }
    if (res.status !== 200) {
      res.cancel()
      throw new IdentityError('unavailable', handle, `${url.origin} answered resolveHandle with HTTP ${res.status}`)
    }
    const body = await res.json()
    const did = typeof body === 'object' && body !== null ? (body as { did?: unknown }).did : undefined
    if (typeof did !== 'string' || !isValidDid(did)) {
      throw new IdentityError('unavailable', handle, `${url.origin} answered resolveHandle without a DID`)
    }
    return did
  } catch (err) {
    if (err instanceof IdentityError) throw err
    if (err instanceof FetchError || err instanceof SyntaxError) {
      throw new IdentityError('unavailable', handle, `resolveHandle failed: ${err.message}`)
    }
    throw err
  }
}

type DnsAnswer = string | null | 'ambiguous' | IdentityError

async function viaDns(handle: string, opts: HandleResolverOptions): Promise<DnsAnswer> {
  const name = `_atproto.${handle}`
  try {
    return didFromTxtRecords(await (opts.dns ?? dnsPromises).resolveTxt(name))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (DNS_NO_RECORD.has(code)) return null
    return new IdentityError('unavailable', handle, `DNS TXT ${name} failed: ${code || (err as Error).message}`)
  }
}

async function viaWellKnown(handle: string, opts: HandleResolverOptions): Promise<string | null> {
  const url = `https://${handle}/.well-known/atproto-did`
  try {
    const res = await safeFetch(url, {
      allowPrivate: opts.allowPrivate,
      timeoutMs: opts.timeoutMs,
      idleTimeoutMs: opts.timeoutMs,
      maxBytes: ANSWER_MAX_BYTES,
      limiter: opts.limiter,
      signal: opts.signal,
      accept: 'text/plain',
    })
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      res.cancel()
      throw new IdentityError('unavailable', handle, `${url} answered HTTP ${res.status}`)
    }
    if (res.status !== 200) {
      res.cancel()
      return null
    }
    return didFromWellKnown(await res.text())
  } catch (err) {
    if (err instanceof IdentityError) throw err
    if (!(err instanceof FetchError)) throw err
    if (HTTP_NO_ANSWER.has(err.kind) || err.code === 'ENOTFOUND') return null
    throw new IdentityError('unavailable', handle, `fetching ${url} failed: ${err.message}`)
  }
}
