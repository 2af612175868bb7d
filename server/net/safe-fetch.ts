// GET requests to addresses found in the network's data (PDS endpoints from DID documents, did:web hosts, handle
// domains), which anyone can write. Every hop, redirects included, is checked where it cannot be dodged: on the
// address a hostname resolved to, inside the connection's own DNS lookup, so a name that resolves to a public
// address for a check and to 127.0.0.1 for the connect (DNS rebinding) gets nowhere. Bodies are bounded in size and
// in how long they may stall, headers in how long they may take, and each hop holds a permit of the host limiter
// from before it connects until its body is read, cancelled or failed.
import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { describeAddress, isPublicAddress } from './address-guard.js'
import type { HostLimiter, HostPermit, RequestOutcome } from './limiter.js'

export type FetchErrorKind =
  | 'refused-address'
  | 'bad-url'
  | 'redirect-loop'
  | 'too-many-redirects'
  | 'too-large'
  | 'timeout'
  | 'stalled'
  | 'network'
  | 'aborted'

export class FetchError extends Error {
  override readonly name = 'FetchError'
  constructor(
    readonly kind: FetchErrorKind,
    /** The URL of the hop that failed, without credentials or secret-looking query values. */
    readonly url: string,
    message: string,
    /** The system error code behind a 'network' error (ENOTFOUND, ECONNREFUSED, ...), when there is one. */
    readonly code: string | null = null,
  ) {
    super(`${url}: ${message}`)
  }
}

export type SafeFetchOptions = {
  /** ALLOW_PRIVATE_HOSTS: true connects to any address (tests, private networks, the operator's own services). */
  allowPrivate: boolean
  limiter?: HostLimiter
  /** Per hop: connecting and receiving the response headers (not the wait for a limiter permit). */
  timeoutMs: number
  /** The body may go this long without a byte while it is being read. */
  idleTimeoutMs: number
  /** Largest body accepted, in bytes. */
  maxBytes: number
  /** Default 5. */
  maxRedirects?: number
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Accept header (default any). */
  accept?: string
}

export type SafeResponse = {
  /** The URL that answered, after redirects. */
  url: string
  status: number
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>
  /** The body, once: bounded by maxBytes and idleTimeoutMs. Breaking out of the loop cancels the rest. */
  body(): AsyncIterable<Uint8Array>
  text(): Promise<string>
  json(): Promise<unknown>
  bytes(): Promise<Uint8Array>
  /** Drops the body unread and gives the permit back; harmless after the body was read. */
  cancel(): void
}

const DEFAULT_MAX_REDIRECTS = 5
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const USER_AGENT = 'skyfill (AT Protocol appview)'
const SECRET_PARAM = /token|secret|pass|auth|key|sig|code/i
const NO_RESPONSE: RequestOutcome = { status: null, headers: null }

class RefusedAddressError extends Error {}

// Every address the name resolved to is judged; only the public ones may be connected to.
const guardedLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0)
    const allowed = addresses.filter((a) => isPublicAddress(a.address))
    if (allowed.length === 0) {
      const why = addresses.map((a) => `${a.address} (${describeAddress(a.address)})`).join(', ')
      return callback(new RefusedAddressError(`${hostname} resolves only to refused addresses: ${why}`), '', 0)
    }
    if (options.all) return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, allowed)
    callback(null, allowed[0].address, allowed[0].family)
  })
}

// Connections are pooled per agent, and a socket opened without the guard must never serve a guarded request:
// hence one pair of agents per mode. Idle sockets do not keep the process alive (the agent unrefs them).
const AGENTS = {
  guarded: {
    'http:': new http.Agent({ keepAlive: true, lookup: guardedLookup }),
    'https:': new https.Agent({ keepAlive: true, lookup: guardedLookup }),
  },
  open: { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) },
}

/** The URL as it may appear in logs and errors: no credentials, and secret-looking query values hidden. */
export function describeUrl(input: string | URL): string {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    return String(input).slice(0, 200).replace(/\?.*/, '?…')
  }
  const params = [...url.searchParams].map(([k, v]) => `${k}=${SECRET_PARAM.test(k) ? '***' : v}`)
  return `${url.protocol}//${url.host}${url.pathname}${params.length ? `?${params.join('&')}` : ''}`
}

/**
 * GET `input`, following redirects. Throws FetchError. The permit of the last hop is held until the body has been
 * read, has failed, or cancel() was called: read it or cancel it.
 */
export async function safeFetch(input: string | URL, opts: SafeFetchOptions): Promise<SafeResponse> {
  let url = parseHttpUrl(input, String(input))
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS
  const visited = new Set([url.href])
  for (let redirects = 0; ; redirects++) {
    const hop = await openHop(url, opts)
    const location = hop.incoming.headers.location
    if (!REDIRECT_STATUSES.has(hop.status) || !location) return hop.response()
    hop.cancel()
    const next = parseHttpUrl(new URL(location, url), describeUrl(url))
    if (visited.has(next.href)) {
      throw new FetchError('redirect-loop', describeUrl(url), `redirects back to ${describeUrl(next)}, seen before`)
    }
    if (redirects + 1 > maxRedirects) {
      throw new FetchError('too-many-redirects', describeUrl(url), `more than ${maxRedirects} redirects`)
    }
    visited.add(next.href)
    url = next
  }
}

function parseHttpUrl(input: string | URL, shownAs: string): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new FetchError('bad-url', describeUrl(shownAs), 'not a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError('bad-url', describeUrl(url), `only http: and https: are fetched, not ${url.protocol}`)
  }
  return url
}

type Hop = {
  incoming: http.IncomingMessage
  status: number
  cancel(): void
  response(): SafeResponse
}

async function openHop(url: URL, opts: SafeFetchOptions): Promise<Hop> {
  const shown = describeUrl(url)
  const { signal } = opts
  if (signal?.aborted) throw new FetchError('aborted', shown, 'aborted before the request started')
  let permit: HostPermit | undefined
  try {
    permit = await opts.limiter?.acquire(url.host, signal)
  } catch (err) {
    if (signal?.aborted) throw new FetchError('aborted', shown, 'aborted while waiting for a permit for the host')
    throw err
  }
  let settled = false
  const settle = (outcome: RequestOutcome) => {
    if (settled) return
    settled = true
    permit?.release(outcome)
  }
  let incoming: http.IncomingMessage
  try {
    incoming = await requestHeaders(url, opts)
  } catch (err) {
    settle(NO_RESPONSE)
    throw asFetchError(err, shown)
  }
  const status = incoming.statusCode ?? 0
  const headers = headerRecord(incoming)
  const answered: RequestOutcome = { status, headers }
  const cancel = () => {
    incoming.destroy()
    settle(answered)
  }
  const declared = Number(headers['content-length'])
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    cancel()
    throw new FetchError('too-large', shown, `body of ${declared} bytes is over the ${opts.maxBytes}-byte limit`)
  }
  const response = (): SafeResponse => {
    let used = false
    const body = (): AsyncIterable<Uint8Array> => {
      if (used) throw new Error(`${shown}: the body was already read or cancelled`)
      used = true
      return readBody(incoming, shown, opts, answered, settle)
    }
    const bytes = async () => {
      const chunks: Uint8Array[] = []
      for await (const chunk of body()) chunks.push(chunk)
      return Buffer.concat(chunks)
    }
    const text = async () => new TextDecoder().decode(await bytes())
    return {
      url: url.href,
      status,
      headers,
      body,
      bytes,
      text,
      json: async () => {
        const source = await text()
        try {
          return JSON.parse(source) as unknown
        } catch (err) {
          throw new SyntaxError(`${shown}: body is not JSON (${(err as Error).message})`)
        }
      },
      cancel: () => {
        used = true
        cancel()
      },
    }
  }
  return { incoming, status, cancel, response }
}

function requestHeaders(url: URL, opts: SafeFetchOptions): Promise<http.IncomingMessage> {
  const shown = describeUrl(url)
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1')
  // Literal addresses never reach a DNS lookup, so the guard sees them here.
  const refused = !opts.allowPrivate && net.isIP(hostname) ? describeAddress(hostname) : null
  if (refused) return Promise.reject(new FetchError('refused-address', shown, `${hostname} is ${refused}`))
  const protocol = url.protocol as 'http:' | 'https:'
  const mode = opts.allowPrivate ? 'open' : 'guarded'
  return new Promise((resolve, reject) => {
    const request = (protocol === 'https:' ? https : http).request({
      protocol,
      hostname,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      agent: AGENTS[mode][protocol],
      headers: { 'user-agent': USER_AGENT, accept: opts.accept ?? '*/*', ...opts.headers },
    })
    const timer = setTimeout(
      () => request.destroy(new FetchError('timeout', shown, `no response headers within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    )
    const onAbort = () => request.destroy(new FetchError('aborted', shown, 'aborted while waiting for the response'))
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    const done = () => {
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
    }
    request.once('response', (incoming) => {
      done()
      resolve(incoming)
    })
    request.once('error', (err) => {
      done()
      reject(err)
    })
    request.end()
  })
}

async function* readBody(
  incoming: http.IncomingMessage,
  shown: string,
  opts: SafeFetchOptions,
  answered: RequestOutcome,
  settle: (outcome: RequestOutcome) => void,
): AsyncGenerator<Uint8Array> {
  const onAbort = () => incoming.destroy(new FetchError('aborted', shown, 'aborted while reading the body'))
  if (opts.signal?.aborted) onAbort()
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  const chunks = incoming[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let received = 0
  try {
    for (;;) {
      // The idle clock runs only while a chunk is awaited: a slow reader is not a stalled host.
      const timer = setTimeout(
        () => incoming.destroy(new FetchError('stalled', shown, `body stalled: no bytes for ${opts.idleTimeoutMs} ms`)),
        opts.idleTimeoutMs,
      )
      let next: IteratorResult<Buffer>
      try {
        next = await chunks.next()
      } finally {
        clearTimeout(timer)
      }
      if (next.done) break
      received += next.value.length
      if (received > opts.maxBytes) {
        throw new FetchError('too-large', shown, `body is over the ${opts.maxBytes}-byte limit`)
      }
      yield next.value
    }
    settle(answered)
  } catch (err) {
    const error = asFetchError(err, shown)
    incoming.destroy()
    settle(error.kind === 'stalled' || error.kind === 'network' ? NO_RESPONSE : answered)
    throw error
  } finally {
    // The reader stopped early (break, return): the rest of the body is not wanted.
    opts.signal?.removeEventListener('abort', onAbort)
    incoming.destroy()
    settle(answered)
  }
}

function asFetchError(err: unknown, shown: string): FetchError {
  if (err instanceof FetchError) return err
  if (err instanceof RefusedAddressError) return new FetchError('refused-address', shown, err.message)
  const code = (err as NodeJS.ErrnoException).code ?? null
  const message = err instanceof Error ? err.message : String(err)
  return new FetchError('network', shown, code && !message.includes(code) ? `${code}: ${message}` : message, code)
}

function headerRecord(incoming: http.IncomingMessage): Record<string, string> {
  const record: Record<string, string> = {}
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value !== undefined) record[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return record
}
