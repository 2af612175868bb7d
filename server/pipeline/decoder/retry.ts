// Identity lookups go over the network; a PLC hiccup must not turn into a 'verify' reject for a good commit.
// Only failures that a later attempt could plausibly fix are retried: a 404 or a bad document will not heal.
import { setTimeout as sleep } from 'node:timers/promises'
import { backoffMs } from '../../lib/backoff.js'

export type RetryPolicy = { attempts: number; baseDelayMs: number }

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250 }

export class RetriesExhaustedError extends Error {
  override readonly name = 'RetriesExhaustedError'
  constructor(attempts: number, cause: unknown) {
    super(`gave up after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

/** Runs `fn`, retrying transient failures with exponential backoff; the last transient failure is wrapped. */
export async function withRetry<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (!isTransient(err)) throw err
      if (attempt >= policy.attempts) throw new RetriesExhaustedError(attempt, err)
      await sleep(backoffMs(attempt - 1, { baseMs: policy.baseDelayMs, maxMs: 30_000 }))
    }
  }
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'ENETUNREACH'])

// fetch() reports network trouble as a TypeError whose cause carries the socket error code; the identity
// resolvers report HTTP failures as an Error with a `status`.
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return true
    if (e instanceof TypeError && e.message === 'fetch failed') return true
    const { status, code } = e as { status?: unknown; code?: unknown }
    if (typeof status === 'number' && (status === 429 || status >= 500)) return true
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('UND_ERR_'))) return true
  }
  return false
}
