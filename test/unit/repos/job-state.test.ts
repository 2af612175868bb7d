import { describe, expect, it } from 'vitest'
import {
  DEFAULT_RETRY_POLICY,
  JOB_STATES,
  type RetryPolicy,
  afterFailure,
  canTransition,
  nextRetryDelayMs,
  sourcesOf,
} from '../../../server/repos/job-state.js'

const noJitter: RetryPolicy = { baseDelayMs: 30_000, maxDelayMs: 6 * 3600_000, maxAttempts: 5, jitter: 0 }

describe('repository job transitions', () => {
  it('a job goes pending → fetching → done, and only a resync takes a done job back to pending', () => {
    expect(canTransition('pending', 'fetching')).toBe(true)
    expect(canTransition('fetching', 'done')).toBe(true)
    expect(canTransition('done', 'pending')).toBe(true)
    expect(canTransition('done', 'fetching')).toBe(false)
    expect(canTransition('pending', 'done')).toBe(false)
  })

  it('only a fetching job can fail, be found unavailable or be handed back', () => {
    expect(sourcesOf('failed')).toEqual(['fetching'])
    expect(sourcesOf('unavailable')).toEqual(['fetching'])
    expect(sourcesOf('done')).toEqual(['fetching'])
  })

  it('a job is claimed from pending, from failed, or from fetching (a lease taken over)', () => {
    expect(sourcesOf('fetching').sort()).toEqual(['failed', 'fetching', 'pending'])
  })

  it('every state can be reset to pending', () => {
    expect(sourcesOf('pending').sort()).toEqual(JOB_STATES.filter((s) => s !== 'pending').sort())
  })
})

describe('retry backoff', () => {
  it('doubles from the base on each failure', () => {
    expect([1, 2, 3, 4].map((n) => nextRetryDelayMs(n, noJitter))).toEqual([30_000, 60_000, 120_000, 240_000])
  })

  it('is capped at the maximum delay however many failures', () => {
    expect(nextRetryDelayMs(10, noJitter)).toBe(15_360_000)
    expect(nextRetryDelayMs(11, noJitter)).toBe(6 * 3600_000)
    expect(nextRetryDelayMs(5000, noJitter)).toBe(6 * 3600_000)
  })

  it('jitter shortens a delay by at most its share', () => {
    const policy = { ...noJitter, jitter: 0.2 }
    expect(nextRetryDelayMs(2, policy, () => 0)).toBe(60_000)
    expect(nextRetryDelayMs(2, policy, () => 0.5)).toBe(54_000)
    expect(nextRetryDelayMs(2, policy, () => 0.999999)).toBeGreaterThanOrEqual(48_000)
  })

  it('refuses an attempt count below 1', () => {
    expect(() => nextRetryDelayMs(0)).toThrow(/attempts must be an integer ≥ 1, got 0/)
  })

  it('a retryable failure below the cap is retried after the backoff', () => {
    expect(afterFailure(0, true, noJitter)).toEqual({ attempts: 1, retryInMs: 30_000 })
    expect(afterFailure(3, true, noJitter)).toEqual({ attempts: 4, retryInMs: 240_000 })
  })

  it('the failure that reaches the attempts cap is not retried', () => {
    expect(afterFailure(4, true, noJitter)).toEqual({ attempts: 5, retryInMs: null })
  })

  it('a failure that is not retryable is not retried', () => {
    expect(afterFailure(0, false, noJitter)).toEqual({ attempts: 1, retryInMs: null })
  })

  it('by default retries start at 30 s and stop after a dozen failures', () => {
    expect(DEFAULT_RETRY_POLICY.baseDelayMs).toBe(30_000)
    expect(afterFailure(DEFAULT_RETRY_POLICY.maxAttempts - 1, true).retryInMs).toBeNull()
  })
})
