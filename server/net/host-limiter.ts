// Keeps skyfill polite to every host it fetches from: per host, a cap on requests in flight, a request rate (token
// bucket), and parking when the host says it has had enough (rate-limit headers, 429) or is failing (5xx, no
// answer). A parked or busy host only makes its own requests wait; every other host goes on.
//
// Defaults: config/host-limits.ts, which says why they are what they are.
//
// Several instances (issue 13): the pacing decision sits behind the HostLimiter interface (net/limiter.ts), and its
// arithmetic is the pure functions below (`refillTokens`, `judgeOutcome`). A Postgres-backed limiter replaces this
// class without touching its callers: one row per host (tokens, refilled_at, parked_until, reason) updated under a
// row lock (`SELECT ... FOR UPDATE`, refill and take a token with `refillTokens`, or answer how long to wait), and
// one row per permit with a short lease (a dead instance's permits expire) for the in-flight cap; release deletes
// the permit and writes `judgeOutcome`'s parking into the host row, so a 429 seen by one instance parks the host for
// all. Cheaper variant, built: split each host's rate and concurrency by the number of live instances (from their
// heartbeats, services/instance-registry.ts) with `setShare`, and keep this in-memory limiter per instance. Parking
// is not shared: a 429 parks the host for the instance that met it.
import { DEFAULT_HOST_LIMITS, type HostLimits } from '../config/host-limits.js'
import { shareOf } from './limit-share.js'
import type { HostLimiter, HostPermit, RequestOutcome } from './limiter.js'

export { DEFAULT_HOST_LIMITS, type HostLimits } from '../config/host-limits.js'

export type ParkingPolicy = {
  /** no parking lasts longer than this, whatever a host's headers ask (a reset a year away is a bad header) */
  maxParkMs: number
  /** the first park after a 429 without a usable retry time; doubles with each 429 in a row */
  tooManyBaseMs: number
  /** 5xx answers or failed connections in a row before the host is parked */
  failureThreshold: number
  /** the first park after `failureThreshold` failures; doubles with each further failure, up to `failureMaxMs` */
  failureBaseMs: number
  failureMaxMs: number
}

export const DEFAULT_PARKING: ParkingPolicy = {
  maxParkMs: 60 * 60_000,
  tooManyBaseMs: 1_000,
  failureThreshold: 3,
  failureBaseMs: 1_000,
  failureMaxMs: 60_000,
}

export type HostLimiterOptions = {
  defaults?: HostLimits
  /** limits for particular hostnames (e.g. the relay, a PDS of your own) */
  perHost?: Readonly<Record<string, Partial<HostLimits>>>
  parking?: Partial<ParkingPolicy>
  /** hosts with nothing going on are forgotten once more than this many are known */
  maxIdleHosts?: number
  now?: () => number
}

export type ParkEvent = { host: string; until: number; reason: string }

export type HostSnapshot = {
  host: string
  inFlight: number
  waiting: number
  /** epoch ms, or null when the host is not parked */
  parkedUntil: number | null
  reason: string | null
  /** permits granted since the host was first met */
  requests: number
}

/** Consecutive bad answers from one host, which decide how long the next park lasts. */
export type HostHealth = { tooManyStreak: number; failureStreak: number }

const HEALTHY: HostHealth = { tooManyStreak: 0, failureStreak: 0 }

/** A token bucket refilled for `elapsedMs` at `ratePerSecond`, holding at most max(1, rate) tokens. */
export function refillTokens(tokens: number, elapsedMs: number, ratePerSecond: number): number {
  return Math.min(Math.max(1, ratePerSecond), tokens + (Math.max(0, elapsedMs) * ratePerSecond) / 1000)
}

/** `retry-after`: delay in seconds or an HTTP date. Returns epoch ms, or null when absent or unreadable. */
export function retryAfterAt(value: string | undefined, now: number): number | null {
  if (value === undefined) return null
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return now + Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? null : date
}

/**
 * `ratelimit-reset`: Bluesky's PDS sends the reset as epoch seconds; the IETF draft sends seconds from now. Values
 * below 10^9 (2001) cannot be an epoch we meet, so they are read as a delay.
 */
export function rateLimitResetAt(value: string | undefined, now: number): number | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null
  const n = Number(value.trim())
  return n < 1e9 ? now + n * 1000 : n * 1000
}

const isHostTrouble = (status: number | null) => status === null || (status >= 500 && status !== 501)

/**
 * What one finished request says about its host: the host's health afterwards, and whether (until when, why) to
 * park it. Pure, so a limiter shared between instances can make the same decision.
 */
export function judgeOutcome(
  outcome: RequestOutcome,
  health: HostHealth,
  now: number,
  policy: ParkingPolicy = DEFAULT_PARKING,
): { health: HostHealth; park: { until: number; reason: string } | null } {
  const headers = outcome.headers ?? {}
  const status = outcome.status
  const retryAt = retryAfterAt(headers['retry-after'], now)
  const resetAt = rateLimitResetAt(headers['ratelimit-reset'], now)
  const cap = (until: number, reason: string) =>
    until > now ? { until: Math.min(until, now + policy.maxParkMs), reason } : null

  if (status === 429) {
    const tooManyStreak = health.tooManyStreak + 1
    const next = { tooManyStreak, failureStreak: 0 }
    if (retryAt !== null && retryAt > now) return { health: next, park: cap(retryAt, '429 with retry-after') }
    if (resetAt !== null && resetAt > now) return { health: next, park: cap(resetAt, '429 with ratelimit-reset') }
    const backoff = policy.tooManyBaseMs * 2 ** Math.min(tooManyStreak - 1, 30)
    return { health: next, park: cap(now + backoff, `429 without a retry time (${tooManyStreak} in a row)`) }
  }
  if (isHostTrouble(status)) {
    const failureStreak = health.failureStreak + 1
    const next = { tooManyStreak: 0, failureStreak }
    const what = status === null ? 'no response' : `HTTP ${status}`
    if (status === 503 && retryAt !== null && retryAt > now) {
      return { health: next, park: cap(retryAt, '503 with retry-after') }
    }
    if (failureStreak < policy.failureThreshold) return { health: next, park: null }
    const backoff = Math.min(
      policy.failureMaxMs,
      policy.failureBaseMs * 2 ** Math.min(failureStreak - policy.failureThreshold, 30),
    )
    return { health: next, park: cap(now + backoff, `${failureStreak} failures in a row (last: ${what})`) }
  }
  if (headers['ratelimit-remaining']?.trim() === '0' && resetAt !== null) {
    return { health: HEALTHY, park: cap(resetAt, 'ratelimit-remaining 0') }
  }
  return { health: HEALTHY, park: null }
}

type Waiter = {
  resolve(permit: HostPermit): void
  reject(reason: unknown): void
  signal?: AbortSignal
  onAbort?: () => void
}

type Host = {
  name: string
  limits: HostLimits
  inFlight: number
  waiters: Waiter[]
  tokens: number
  refilledAt: number
  parkedUntil: number | null
  reason: string | null
  health: HostHealth
  requests: number
  timer: ReturnType<typeof setTimeout> | null
}

const checkLimits = (limits: HostLimits, where: string): HostLimits => {
  if (!Number.isInteger(limits.concurrency) || limits.concurrency < 1) {
    throw new Error(`${where}: concurrency must be an integer ≥ 1, got ${limits.concurrency}`)
  }
  if (!(limits.ratePerSecond > 0) || !Number.isFinite(limits.ratePerSecond)) {
    throw new Error(`${where}: ratePerSecond must be a number > 0, got ${limits.ratePerSecond}`)
  }
  return limits
}

export class PerHostLimiter implements HostLimiter {
  private readonly hosts = new Map<string, Host>()
  private readonly parkListeners = new Set<(event: ParkEvent) => void>()
  /** As configured for the whole deployment; `share` says which part of them this instance uses. */
  private readonly defaults: HostLimits
  private readonly perHost: Map<string, HostLimits>
  private share = { rank: 0, live: 1 }
  private readonly parking: ParkingPolicy
  private readonly maxIdleHosts: number
  private readonly now: () => number

  constructor(options: HostLimiterOptions = {}) {
    this.defaults = checkLimits(options.defaults ?? DEFAULT_HOST_LIMITS, 'host limits')
    this.perHost = new Map(
      Object.entries(options.perHost ?? {}).map(([host, limits]) => [
        host.toLowerCase(),
        checkLimits({ ...this.defaults, ...limits }, `host limits for ${host}`),
      ]),
    )
    this.parking = { ...DEFAULT_PARKING, ...options.parking }
    this.maxIdleHosts = options.maxIdleHosts ?? 10_000
    this.now = options.now ?? (() => Date.now())
  }

  acquire(host: string, signal?: AbortSignal): Promise<HostPermit> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    const state = this.host(host.toLowerCase())
    return new Promise<HostPermit>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal }
      if (signal) {
        waiter.onAbort = () => {
          const i = state.waiters.indexOf(waiter)
          if (i >= 0) state.waiters.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      state.waiters.push(waiter)
      this.pump(state)
    })
  }

  /**
   * This instance's place among `live` instances sharing every host's limits: from now on it uses its share of them
   * (limit-share.ts), and requests waiting are granted under the new limits.
   */
  setShare(rank: number, live: number): void {
    if (rank === this.share.rank && live === this.share.live) return
    // Refuses a rank outside the live instances before anything changes.
    shareOf(this.defaults, rank, live)
    this.share = { rank, live }
    for (const h of this.hosts.values()) {
      h.limits = this.limitsFor(h.name)
      this.pump(h)
    }
  }

  /** The limits this instance uses for `host` now (its share of the configured ones). */
  limitsFor(host: string): HostLimits {
    const configured = this.perHost.get(host.toLowerCase()) ?? this.defaults
    return shareOf(configured, this.share.rank, this.share.live)
  }

  /** Calls `listener` whenever a host is parked; returns a function that stops it. */
  onPark(listener: (event: ParkEvent) => void): () => void {
    this.parkListeners.add(listener)
    return () => this.parkListeners.delete(listener)
  }

  /** How long `host` stays parked from now, in ms (0 when it is not). */
  parkedFor(host: string): number {
    const h = this.hosts.get(host.toLowerCase())
    if (!h || h.parkedUntil === null) return 0
    return Math.max(0, h.parkedUntil - this.now())
  }

  /** The hosts parked now: what a claim of repository jobs should pass over. */
  parkedHosts(): string[] {
    const now = this.now()
    return [...this.hosts.values()].filter((h) => h.parkedUntil !== null && h.parkedUntil > now).map((h) => h.name)
  }

  snapshot(): HostSnapshot[] {
    const now = this.now()
    return [...this.hosts.values()]
      .map((h) => {
        const parked = h.parkedUntil !== null && h.parkedUntil > now
        return {
          host: h.name,
          inFlight: h.inFlight,
          waiting: h.waiters.length,
          parkedUntil: parked ? h.parkedUntil : null,
          reason: parked ? h.reason : null,
          requests: h.requests,
        }
      })
      .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
  }

  private host(name: string): Host {
    const known = this.hosts.get(name)
    if (known) return known
    if (this.hosts.size >= this.maxIdleHosts) this.forgetIdle()
    const limits = this.limitsFor(name)
    const state: Host = {
      name,
      limits,
      inFlight: 0,
      waiters: [],
      tokens: Math.max(1, limits.ratePerSecond),
      refilledAt: this.now(),
      parkedUntil: null,
      reason: null,
      health: HEALTHY,
      requests: 0,
      timer: null,
    }
    this.hosts.set(name, state)
    return state
  }

  private forgetIdle(): void {
    const now = this.now()
    for (const [name, h] of this.hosts) {
      const parked = h.parkedUntil !== null && h.parkedUntil > now
      if (h.inFlight === 0 && h.waiters.length === 0 && !parked && h.health.failureStreak === 0 && h.health.tooManyStreak === 0) {
        this.hosts.delete(name)
      }
    }
  }

  /** Grants permits to waiting requests, in order, as far as parking, concurrency and tokens allow. */
  private pump(h: Host): void {
    if (h.timer !== null) {
      clearTimeout(h.timer)
      h.timer = null
    }
    while (h.waiters.length > 0) {
      const now = this.now()
      if (h.parkedUntil !== null) {
        if (h.parkedUntil > now) return this.wake(h, h.parkedUntil - now)
        h.parkedUntil = null
        h.reason = null
      }
      if (h.inFlight >= h.limits.concurrency) return
      h.tokens = refillTokens(h.tokens, now - h.refilledAt, h.limits.ratePerSecond)
      h.refilledAt = now
      if (h.tokens < 1) return this.wake(h, Math.ceil(((1 - h.tokens) * 1000) / h.limits.ratePerSecond))
      h.tokens -= 1
      h.inFlight++
      h.requests++
      const waiter = h.waiters.shift()!
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
      waiter.resolve(this.permit(h))
    }
  }

  private wake(h: Host, ms: number): void {
    h.timer = setTimeout(() => {
      h.timer = null
      this.pump(h)
    }, ms)
  }

  private permit(h: Host): HostPermit {
    let released = false
    return {
      release: (outcome) => {
        if (released) throw new Error(`host permit for ${h.name} released twice`)
        released = true
        h.inFlight--
        const now = this.now()
        const { health, park } = judgeOutcome(outcome, h.health, now, this.parking)
        h.health = health
        if (park && (h.parkedUntil === null || park.until > h.parkedUntil)) {
          h.parkedUntil = park.until
          h.reason = park.reason
          for (const listener of this.parkListeners) listener({ host: h.name, until: park.until, reason: park.reason })
        }
        this.pump(h)
      },
    }
  }
}
