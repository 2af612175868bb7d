// The per-host limiter on fake time: concurrency, rate, parking on what hosts answer, and hosts kept apart.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  DEFAULT_HOST_LIMITS,
  type ParkEvent,
  PerHostLimiter,
  judgeOutcome,
  rateLimitResetAt,
  retryAfterAt,
} from '../../../server/net/host-limiter.js'
import type { HostPermit, RequestOutcome } from '../../../server/net/limiter.js'

const T0 = 1_700_000_000_000 // a whole second, so epoch-seconds headers land exactly
const OK: RequestOutcome = { status: 200, headers: {} }
const status = (s: number | null, headers: Record<string, string> = {}): RequestOutcome => ({
  status: s,
  headers: s === null ? null : headers,
})

/** Starts an acquire and records when (fake ms since T0) it was granted. */
function track(limiter: PerHostLimiter, host: string, signal?: AbortSignal) {
  const t: { at: number | null; permit: HostPermit | null; error: unknown } = { at: null, permit: null, error: null }
  limiter.acquire(host, signal).then(
    (p) => {
      t.at = Date.now() - T0
      t.permit = p
    },
    (e) => (t.error = e),
  )
  return t
}

/** The host's next request waits exactly until `ms` after T0: not granted a millisecond before. */
async function expectResumesAt(limiter: PerHostLimiter, host: string, ms: number) {
  const next = track(limiter, host)
  await vi.advanceTimersByTimeAsync(ms - (Date.now() - T0) - 1)
  expect(next.at).toBeNull()
  await vi.advanceTimersByTimeAsync(1)
  expect(next.at).toBe(ms)
}

beforeEach(() => {
  vi.useFakeTimers()
  vi.setSystemTime(T0)
})

afterEach(() => {
  vi.useRealTimers()
})

describe('per-host limits', () => {
  it('never has more than `concurrency` requests of one host in flight', async () => {
    const limiter = new PerHostLimiter({ defaults: { concurrency: 2, ratePerSecond: 1000 } })
    let peak = 0
    const samples: number[] = []
    const sampler = setInterval(() => samples.push(limiter.snapshot()[0]?.inFlight ?? 0), 7)
    const requests = Array.from({ length: 20 }, async (_, i) => {
      const permit = await limiter.acquire('pds.example')
      peak = Math.max(peak, limiter.snapshot()[0].inFlight)
      await new Promise((r) => setTimeout(r, 30 + ((i * 37) % 90)))
      permit.release(OK)
    })
    await vi.advanceTimersByTimeAsync(5_000)
    await Promise.all(requests)
    clearInterval(sampler)
    expect(peak).toBe(2)
    expect(Math.max(...samples)).toBe(2)
    expect(samples.filter((n) => n === 2).length).toBeGreaterThan(10)
    expect(limiter.snapshot()).toEqual([
      { host: 'pds.example', inFlight: 0, waiting: 0, parkedUntil: null, reason: null, requests: 20 },
    ])
  })

  it('holds the rate: a burst of max(1, rate), then one request per 1/rate seconds', async () => {
    const limiter = new PerHostLimiter({ defaults: { concurrency: 100, ratePerSecond: 5 } })
    const grants: number[] = []
    for (let i = 0; i < 60; i++) {
      void limiter.acquire('pds.example').then((p) => {
        grants.push(Date.now() - T0)
        p.release(OK)
      })
    }
    await vi.advanceTimersByTimeAsync(0)
    expect(grants).toEqual([0, 0, 0, 0, 0])
    await vi.advanceTimersByTimeAsync(5_000)
    expect(grants.length).toBe(30)
    // no window of 2 s holds more than the burst plus 2 s of rate
    for (const start of grants) expect(grants.filter((g) => g >= start && g < start + 2_000).length).toBeLessThanOrEqual(15)
    expect(grants.slice(5, 10)).toEqual([200, 400, 600, 800, 1000])
  })

  it('takes per-host overrides over the defaults', async () => {
    const limiter = new PerHostLimiter({ perHost: { 'Relay.Example': { concurrency: 1 } } })
    const a = track(limiter, 'relay.example')
    const b = track(limiter, 'relay.example')
    const c = track(limiter, 'pds.example')
    const d = track(limiter, 'pds.example')
    await vi.advanceTimersByTimeAsync(0)
    expect([a.at, b.at, c.at, d.at]).toEqual([0, null, 0, 0])
    a.permit!.release(OK)
    await vi.advanceTimersByTimeAsync(0)
    expect(b.at).toBe(0)
  })

  it('defaults to 2 in flight and 5 requests/s, below Bluesky’s 10/s per IP', () => {
    expect(DEFAULT_HOST_LIMITS).toEqual({ concurrency: 2, ratePerSecond: 5 })
  })

  it('forgets idle hosts once it knows too many, but keeps a parked one', async () => {
    const limiter = new PerHostLimiter({ maxIdleHosts: 3 })
    ;(await limiter.acquire('parked.example')).release(status(429, { 'retry-after': '60' }))
    for (const h of ['a.example', 'b.example', 'c.example', 'd.example']) (await limiter.acquire(h)).release(OK)
    expect(limiter.snapshot().map((s) => s.host)).toEqual(['c.example', 'd.example', 'parked.example'])
  })

  it('refuses limits that are not positive', () => {
    expect(() => new PerHostLimiter({ defaults: { concurrency: 0, ratePerSecond: 5 } })).toThrow(
      /concurrency must be an integer ≥ 1, got 0/,
    )
    expect(() => new PerHostLimiter({ perHost: { 'a.example': { ratePerSecond: -1 } } })).toThrow(
      /host limits for a\.example: ratePerSecond must be a number > 0, got -1/,
    )
  })
})

describe('parking', () => {
  it('parks a host whose ratelimit-remaining hits 0 until its ratelimit-reset, then resumes on time', async () => {
    const limiter = new PerHostLimiter()
    const parks: ParkEvent[] = []
    limiter.onPark((e) => parks.push(e))
    const first = await limiter.acquire('pds.example')
    first.release(status(200, { 'ratelimit-remaining': '0', 'ratelimit-reset': String(T0 / 1000 + 30) }))
    expect(parks).toEqual([{ host: 'pds.example', until: T0 + 30_000, reason: 'ratelimit-remaining 0' }])
    const next = track(limiter, 'pds.example')
    await vi.advanceTimersByTimeAsync(29_999)
    expect(next.at).toBeNull()
    expect(limiter.snapshot()[0]).toMatchObject({ waiting: 1, parkedUntil: T0 + 30_000, reason: 'ratelimit-remaining 0' })
    await vi.advanceTimersByTimeAsync(1)
    expect(next.at).toBe(30_000)
    expect(limiter.snapshot()[0]).toMatchObject({ waiting: 0, parkedUntil: null, reason: null })
  })

  it('parks on 429 for the retry-after seconds', async () => {
    const limiter = new PerHostLimiter()
    ;(await limiter.acquire('pds.example')).release(status(429, { 'retry-after': '12' }))
    await expectResumesAt(limiter, 'pds.example', 12_000)
  })

  it('parks on 429 until a retry-after HTTP date', async () => {
    const limiter = new PerHostLimiter()
    ;(await limiter.acquire('pds.example')).release(
      status(429, { 'retry-after': new Date(T0 + 45_000).toUTCString() }),
    )
    await expectResumesAt(limiter, 'pds.example', 45_000)
  })

  it('parks on 429 without a retry time for 1 s, then 2 s, then 4 s while the 429s go on', async () => {
    const limiter = new PerHostLimiter()
    const parks: number[] = []
    limiter.onPark((e) => parks.push(e.until - Date.now()))
    for (let i = 0; i < 3; i++) {
      const t = track(limiter, 'pds.example')
      await vi.advanceTimersByTimeAsync(10_000)
      t.permit!.release(status(429))
    }
    expect(parks).toEqual([1_000, 2_000, 4_000])
    const t = track(limiter, 'pds.example')
    await vi.advanceTimersByTimeAsync(10_000)
    t.permit!.release(OK)
    ;(await limiter.acquire('pds.example')).release(status(429))
    expect(parks.at(-1)).toBe(1_000)
  })

  it('parks a host briefly after repeated 5xx or failed connections, not after one', async () => {
    const limiter = new PerHostLimiter({ defaults: { concurrency: 1, ratePerSecond: 1000 } })
    const parks: ParkEvent[] = []
    limiter.onPark((e) => parks.push(e))
    ;(await limiter.acquire('pds.example')).release(status(502))
    ;(await limiter.acquire('pds.example')).release(status(null))
    expect(parks).toEqual([])
    ;(await limiter.acquire('pds.example')).release(status(503))
    expect(parks).toEqual([{ host: 'pds.example', until: T0 + 1_000, reason: '3 failures in a row (last: HTTP 503)' }])
    await expectResumesAt(limiter, 'pds.example', 1_000)
  })

  it('a parked host does not delay another host', async () => {
    const limiter = new PerHostLimiter()
    ;(await limiter.acquire('slow.example')).release(status(429, { 'retry-after': '600' }))
    const parked = track(limiter, 'slow.example')
    const other = [track(limiter, 'fast.example'), track(limiter, 'fast.example')]
    await vi.advanceTimersByTimeAsync(0)
    expect(other.map((t) => t.at)).toEqual([0, 0])
    expect(parked.at).toBeNull()
    expect(limiter.snapshot().map((s) => [s.host, s.inFlight, s.waiting, s.parkedUntil])).toEqual([
      ['fast.example', 2, 0, null],
      ['slow.example', 0, 1, T0 + 600_000],
    ])
  })

  it('an aborted wait rejects with the signal’s reason and leaves the queue', async () => {
    const limiter = new PerHostLimiter()
    ;(await limiter.acquire('pds.example')).release(status(429, { 'retry-after': '60' }))
    const ac = new AbortController()
    const t = track(limiter, 'pds.example', ac.signal)
    await vi.advanceTimersByTimeAsync(0)
    expect(limiter.snapshot()[0].waiting).toBe(1)
    ac.abort(new Error('shutting down'))
    await vi.advanceTimersByTimeAsync(0)
    expect((t.error as Error).message).toBe('shutting down')
    expect(limiter.snapshot()[0].waiting).toBe(0)
  })

  it('a permit released twice is a bug, said loudly', async () => {
    const limiter = new PerHostLimiter()
    const p = await limiter.acquire('pds.example')
    p.release(OK)
    expect(() => p.release(OK)).toThrow(/host permit for pds\.example released twice/)
  })
})

describe('what a host’s answer means', () => {
  const now = T0
  const healthy = { tooManyStreak: 0, failureStreak: 0 }

  it('reads ratelimit-reset as epoch seconds, or as a delay when it is too small to be an epoch', () => {
    expect(rateLimitResetAt(String(T0 / 1000 + 5), now)).toBe(T0 + 5_000)
    expect(rateLimitResetAt('30', now)).toBe(T0 + 30_000)
    expect(rateLimitResetAt('soon', now)).toBeNull()
  })

  it('reads retry-after as seconds or an HTTP date', () => {
    expect(retryAfterAt('3', now)).toBe(T0 + 3_000)
    expect(retryAfterAt('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(Date.UTC(2015, 9, 21, 7, 28))
    expect(retryAfterAt('later', now)).toBeNull()
  })

  it('never parks longer than the cap, whatever the host asks', () => {
    const { park } = judgeOutcome(status(429, { 'retry-after': String(365 * 86400) }), healthy, now)
    expect(park?.until).toBe(T0 + 60 * 60_000)
  })

  it('does not park on a reset in the past, nor on remaining > 0', () => {
    expect(judgeOutcome(status(200, { 'ratelimit-remaining': '0', 'ratelimit-reset': String(T0 / 1000 - 1) }), healthy, now).park).toBeNull()
    expect(judgeOutcome(status(200, { 'ratelimit-remaining': '3', 'ratelimit-reset': String(T0 / 1000 + 60) }), healthy, now).park).toBeNull()
  })

  it('a 501 or a 4xx says nothing about the host’s health', () => {
    const tired = { tooManyStreak: 0, failureStreak: 2 }
    expect(judgeOutcome(status(501), tired, now)).toEqual({ health: healthy, park: null })
    expect(judgeOutcome(status(404), tired, now)).toEqual({ health: healthy, park: null })
  })
})
