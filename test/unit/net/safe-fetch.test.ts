import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { CountingLimiter } from '../../support/counting-limiter.js'
import { startHttpServer, type TestHttpServer } from '../../support/http-server.js'

// Every server here is on 127.0.0.1, which the guard refuses. To show what happens at a later hop, some tests
// pretend 127.0.0.1 is a public address (the address guard's own tests cover the real verdicts).
const pretendPublic = vi.hoisted(() => new Set<string>())
vi.mock('../../../server/net/address-guard.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../server/net/address-guard.js')>()
  const describeAddress = (ip: string) => (pretendPublic.has(ip) ? null : real.describeAddress(ip))
  return { describeAddress, isPublicAddress: (ip: string) => describeAddress(ip) === null }
})

const { safeFetch, describeUrl, FetchError } = await import('../../../server/net/safe-fetch.js')
type SafeFetchOptions = import('../../../server/net/safe-fetch.js').SafeFetchOptions

let server: TestHttpServer
let limiter: CountingLimiter
const held: (() => void)[] = []

const options = (extra: Partial<SafeFetchOptions> = {}): SafeFetchOptions => ({
  allowPrivate: true,
  limiter,
  timeoutMs: 1000,
  idleTimeoutMs: 300,
  maxBytes: 1000,
  ...extra,
})

const failure = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(FetchError)
  return err as InstanceType<typeof FetchError>
}

beforeAll(async () => {
  server = await startHttpServer({
    '/ok': (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'X-Thing': 'yes' }).end('{"hello":"world"}'),
    '/loop-a': (_req, res) => res.writeHead(302, { location: '/loop-b' }).end(),
    '/loop-b': (_req, res) => res.writeHead(301, { location: `${server.url}/loop-a` }).end(),
    '/to-private': (_req, res) => res.writeHead(302, { location: 'http://10.1.2.3/xrpc/x' }).end(),
    '/to-ipv6-loopback': (_req, res) => res.writeHead(307, { location: `http://[::1]:${server.port}/ok` }).end(),
    '/to-file': (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
    '/declared-big': (_req, res) => res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000)),
    '/chunked-big': (_req, res) => {
      res.writeHead(200)
      for (let i = 0; i < 10; i++) res.write('y'.repeat(200))
      res.end()
    },
    '/stall': (_req, res) => {
      res.writeHead(200)
      res.write('partial')
      held.push(() => res.end())
    },
    '/no-headers': (_req, res) => held.push(() => res.end()),
    '/two-chunks': (_req, res) => {
      res.writeHead(200)
      res.write('first')
      setTimeout(() => res.end('second'), 50)
    },
    '/quick-128k': (_req, res) => res.writeHead(200).end('z'.repeat(128 * 1024)),
  })
  for (let n = 0; n <= 6; n++) {
    server.route(`/chain/${n}`, (_req, res) =>
      n === 0 ? res.writeHead(200).end('end of chain') : res.writeHead(302, { location: `/chain/${n - 1}` }).end(),
    )
  }
})

afterEach(() => {
  expect(limiter.misreleased).toEqual([])
  pretendPublic.clear()
  for (const release of held.splice(0)) release()
})

afterAll(() => server.close())

describe('safeFetch', () => {
  beforeEach(() => {
    limiter = new CountingLimiter()
  })

  it('returns the status, lower-case headers, final URL and body, and releases the permit with the outcome', async () => {
    const res = await safeFetch(`${server.url}/ok`, options())
    expect(res.status).toBe(200)
    expect(res.headers['x-thing']).toBe('yes')
    expect(res.url).toBe(`${server.url}/ok`)
    expect(limiter.permits[0].releases).toEqual([])
    expect(await res.json()).toEqual({ hello: 'world' })
    expect(limiter.permits).toHaveLength(1)
    // Per host with its port (URL.host): two servers on one machine are two hosts.
    expect(limiter.permits[0].host).toBe(new URL(server.url).host)
    expect(limiter.permits[0].releases[0].status).toBe(200)
    expect(limiter.permits[0].releases[0].headers?.['x-thing']).toBe('yes')
  })

  it('follows redirects, one permit per hop, and reports where it ended', async () => {
    const res = await safeFetch(`${server.url}/chain/3`, options())
    expect(await res.text()).toBe('end of chain')
    expect(res.url).toBe(`${server.url}/chain/0`)
    expect(limiter.statuses).toEqual([302, 302, 302, 200])
  })

  it('refuses a redirect loop', async () => {
    const err = await failure(safeFetch(`${server.url}/loop-a`, options()))
    expect(err.kind).toBe('redirect-loop')
    expect(err.message).toContain('/loop-b')
    expect(limiter.statuses).toEqual([302, 301])
  })

  it('refuses more redirects than maxRedirects', async () => {
    const err = await failure(safeFetch(`${server.url}/chain/3`, options({ maxRedirects: 2 })))
    expect(err.kind).toBe('too-many-redirects')
    expect(limiter.statuses).toEqual([302, 302, 302])
  })

  it('follows at most 5 redirects by default', async () => {
    expect((await failure(safeFetch(`${server.url}/chain/6`, options()))).kind).toBe('too-many-redirects')
    limiter = new CountingLimiter()
    const res = await safeFetch(`${server.url}/chain/5`, options())
    expect(await res.text()).toBe('end of chain')
  })

  it('refuses URLs and redirects that are not http: or https:', async () => {
    expect((await failure(safeFetch('ftp://example.com/x', options()))).kind).toBe('bad-url')
    expect((await failure(safeFetch('not a url', options()))).kind).toBe('bad-url')
    const err = await failure(safeFetch(`${server.url}/to-file`, options()))
    expect(err.kind).toBe('bad-url')
    expect(err.message).toContain('file:')
  })

  it('refuses a literal private address unless private hosts are allowed, without taking a connection', async () => {
    const err = await failure(safeFetch(`${server.url}/ok`, options({ allowPrivate: false })))
    expect(err.kind).toBe('refused-address')
    expect(err.message).toContain('loopback')
    expect(server.requests.filter((p) => p === '/ok')).toHaveLength(1) // only the first test's request
    expect(limiter.statuses).toEqual([null])
  })

  it('refuses a hostname at connect time when it resolves to a private address', async () => {
    const err = await failure(safeFetch(`http://localhost:${server.port}/ok`, options({ allowPrivate: false })))
    expect(err.kind).toBe('refused-address')
    expect(err.message).toContain('localhost resolves only to refused addresses: 127.0.0.1 (loopback')
  })

  it('checks every redirect hop: a public host redirecting to a private address is refused', async () => {
    pretendPublic.add('127.0.0.1')
    const toV4 = await failure(safeFetch(`${server.url}/to-private`, options({ allowPrivate: false })))
    expect(toV4.kind).toBe('refused-address')
    expect(toV4.url).toBe('http://10.1.2.3/xrpc/x')
    const toV6 = await failure(safeFetch(`${server.url}/to-ipv6-loopback`, options({ allowPrivate: false })))
    expect(toV6.kind).toBe('refused-address')
    expect(limiter.statuses).toEqual([302, null, 307, null])
  })

  it('lets a name through when it resolves to a public address', async () => {
    pretendPublic.add('127.0.0.1')
    const res = await safeFetch(`http://localhost:${server.port}/ok`, options({ allowPrivate: false }))
    expect(await res.json()).toEqual({ hello: 'world' })
  })

  it('refuses a body whose declared length is over the cap, before reading it', async () => {
    const err = await failure(safeFetch(`${server.url}/declared-big`, options()))
    expect(err.kind).toBe('too-large')
    expect(err.message).toContain('5000 bytes')
    expect(limiter.statuses).toEqual([200])
  })

  it('stops an undeclared body as soon as it passes the cap', async () => {
    const res = await safeFetch(`${server.url}/chunked-big`, options())
    let seen = 0
    const err = await failure(
      (async () => {
        for await (const chunk of res.body()) seen += chunk.length
      })(),
    )
    expect(err.kind).toBe('too-large')
    expect(seen).toBeLessThanOrEqual(1000)
  })

  it('fails a body that stalls for longer than the idle timeout', async () => {
    const res = await safeFetch(`${server.url}/stall`, options())
    const started = Date.now()
    const err = await failure(res.text())
    expect(err.kind).toBe('stalled')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(limiter.statuses).toEqual([null])
  })

  it('does not count time the reader takes as a stall', async () => {
    const res = await safeFetch(`${server.url}/quick-128k`, options({ idleTimeoutMs: 100, maxBytes: 1 << 20 }))
    let received = 0
    for await (const chunk of res.body()) {
      received += chunk.length
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(received).toBe(128 * 1024)
  })

  it('times out when the response headers do not come in time', async () => {
    const err = await failure(safeFetch(`${server.url}/no-headers`, options({ timeoutMs: 200 })))
    expect(err.kind).toBe('timeout')
    expect(err.message).toContain('200 ms')
    expect(limiter.statuses).toEqual([null])
  })

  it('aborts while waiting for the headers', async () => {
    const ctl = new AbortController()
    setTimeout(() => ctl.abort(), 100)
    const err = await failure(safeFetch(`${server.url}/no-headers`, options({ signal: ctl.signal, timeoutMs: 5000 })))
    expect(err.kind).toBe('aborted')
  })

  it('aborts while reading the body, and releases the permit with what the host answered', async () => {
    const ctl = new AbortController()
    const res = await safeFetch(`${server.url}/stall`, options({ signal: ctl.signal, idleTimeoutMs: 5000 }))
    setTimeout(() => ctl.abort(), 100)
    expect((await failure(res.text())).kind).toBe('aborted')
    expect(limiter.statuses).toEqual([200])
  })

  it('aborts before connecting when the signal already fired, taking no permit', async () => {
    const err = await failure(safeFetch(`${server.url}/ok`, options({ signal: AbortSignal.abort() })))
    expect(err.kind).toBe('aborted')
    expect(limiter.permits).toHaveLength(0)
  })

  it('aborts while waiting for a permit', async () => {
    const ctl = new AbortController()
    const waiting = {
      acquire: (_host: string, signal?: AbortSignal) =>
        new Promise<never>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
    }
    setTimeout(() => ctl.abort(), 50)
    const err = await failure(safeFetch(`${server.url}/ok`, options({ limiter: waiting, signal: ctl.signal })))
    expect(err.kind).toBe('aborted')
  })

  it('gives the permit back once when the body is cancelled or left early', async () => {
    const cancelled = await safeFetch(`${server.url}/stall`, options())
    cancelled.cancel()
    cancelled.cancel()
    expect(() => cancelled.body()).toThrow('already read or cancelled')
    const left = await safeFetch(`${server.url}/two-chunks`, options())
    for await (const _chunk of left.body()) break
    left.cancel()
    expect(limiter.statuses).toEqual([200, 200])
  })

  it('reads a body only once', async () => {
    const res = await safeFetch(`${server.url}/ok`, options())
    await res.text()
    await expect(res.text()).rejects.toThrow('already read')
  })

  it('reports a connection refused as a network error with its code', async () => {
    const closed = await startHttpServer()
    await closed.close()
    const err = await failure(safeFetch(`${closed.url}/x`, options()))
    expect(err.kind).toBe('network')
    expect(err.code).toBe('ECONNREFUSED')
    expect(limiter.statuses).toEqual([null])
  })

  it('names the URL in errors without credentials or secret query values', async () => {
    expect(describeUrl('https://user:pw@pds.example/xrpc/x?did=did:plc:abc&access_token=s3cret')).toBe(
      'https://pds.example/xrpc/x?did=did:plc:abc&access_token=***',
    )
    const err = await failure(safeFetch(`${server.url}/no-headers?token=s3cret`, options({ timeoutMs: 50 })))
    expect(err.message).toContain(`${server.url}/no-headers?token=***`)
    expect(err.message).not.toContain('s3cret')
  })
})
