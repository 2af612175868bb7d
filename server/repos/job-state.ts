// The one place that lists a repository job's states, which moves between them are allowed, and when a failed job
// is tried again. The job store asserts these transitions in its SQL (`state = ANY(...)` built from `sourcesOf`), so
// a row can only move the way this table says, whichever instance moves it.

export const JOB_STATES = ['pending', 'fetching', 'done', 'failed', 'unavailable'] as const
export type JobState = (typeof JOB_STATES)[number]

/**
 * A job as the fetcher sees it. `fetching` is held by one instance until `leaseUntil`; `failed` says why and when it
 * is tried again (`nextTryAt` null: not again until reset); `unavailable` carries the account status.
 */
export type RepoJobStatus =
  | { state: 'pending' }
  | { state: 'fetching'; leaseOwner: string; leaseUntil: Date }
  | { state: 'done'; rev: string | null; dataCid: string | null; records: number }
  | { state: 'failed'; reason: string; attempts: number; nextTryAt: Date | null }
  | { state: 'unavailable'; accountStatus: string | null; reason: string | null }

const TRANSITIONS: Record<JobState, readonly JobState[]> = {
  // claimed by a fetcher
  pending: ['fetching'],
  // finished, gave up for now, found gone, handed back on shutdown (pending), or taken over once its lease ran out
  fetching: ['done', 'failed', 'unavailable', 'pending', 'fetching'],
  // a resync (rev mismatch, #sync, a new window) fetches it again
  done: ['pending'],
  // retried when next_try_at has come (claimed again), or reset by hand / by a resync
  failed: ['fetching', 'pending'],
  // the account came back (or a resync was asked for)
  unavailable: ['pending'],
}

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to)
}

/** Every state a job may move to `to` from: what the store's WHERE clauses accept. */
export function sourcesOf(to: JobState): JobState[] {
  return JOB_STATES.filter((from) => canTransition(from, to))
}

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value)
}

export type RetryPolicy = {
  /** the first retry's delay */
  baseDelayMs: number
  /** no delay is longer than this */
  maxDelayMs: number
  /** after this many failed attempts the job stays failed until it is reset */
  maxAttempts: number
  /** 0..1: how much of each delay is randomised away, so jobs that failed together do not retry together */
  jitter: number
}

/** 30 s, 1 min, 2 min, ... up to 6 h; a repository that failed 12 times (about 2 days of trying) waits for a reset. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseDelayMs: 30_000,
  maxDelayMs: 6 * 60 * 60 * 1000,
  maxAttempts: 12,
  jitter: 0.2,
}

/**
 * How long to wait before trying again after the `attempts`-th failure (1 = the first): base × 2^(attempts−1),
 * capped, less up to `jitter` of it at random.
 */
export function nextRetryDelayMs(
  attempts: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new Error(`nextRetryDelayMs: attempts must be an integer ≥ 1, got ${attempts}`)
  }
  // 2^(attempts−1) overflows nothing below 1024; past the cap it no longer matters
  const exponential = policy.baseDelayMs * 2 ** Math.min(attempts - 1, 1000)
  const capped = Math.min(policy.maxDelayMs, exponential)
  return Math.round(capped * (1 - policy.jitter * random()))
}

/** What a failure does to a job: the attempts it now has, and the delay before the next try (null: none). */
export function afterFailure(
  attemptsBefore: number,
  retryable: boolean,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): { attempts: number; retryInMs: number | null } {
  const attempts = attemptsBefore + 1
  if (!retryable || attempts >= policy.maxAttempts) return { attempts, retryInMs: null }
  return { attempts, retryInMs: nextRetryDelayMs(attempts, policy, random) }
}
