// What one resolution does to an actor's identity columns: the pure half of the identity refresher, kept apart so
// its rules are tested with values. A verified handle or null replaces the served one; a passing failure (directory
// down, handle not checkable just now) keeps what was known and asks again soon; a DID that is gone or unusable is
// served without a handle or PDS until its next check a TTL later.
import { IdentityError } from './errors.js'
import type { ResolvedIdentity } from './resolve-identity.js'

export type IdentityUpdate = {
  /** undefined: keep the column as it is. */
  handle: string | null | undefined
  pdsUrl: string | null | undefined
  error: string | null
  /** Sets identity_checked_at: a definite answer came (verified or not). */
  checked: boolean
  /** identity_due_at = now() + this. */
  dueInMs: number
}

export function identityUpdate(
  outcome: { identity: ResolvedIdentity } | { error: unknown },
  timing: { ttlMs: number; retryMs: number },
): IdentityUpdate {
  if ('identity' in outcome) {
    const { identity } = outcome
    return {
      handle: identity.retryable ? undefined : identity.handle,
      pdsUrl: identity.pdsUrl,
      error: identity.problem,
      checked: !identity.retryable,
      dueInMs: identity.retryable ? timing.retryMs : timing.ttlMs,
    }
  }
  const { error } = outcome
  if (error instanceof IdentityError && !error.retryable) {
    const message = `${error.kind}: ${error.message}`
    return { handle: null, pdsUrl: null, error: message, checked: true, dueInMs: timing.ttlMs }
  }
  // Unavailable, or something unforeseen: nothing learned, try again soon.
  const message = error instanceof Error ? error.message : String(error)
  const kind = error instanceof IdentityError ? error.kind : 'error'
  return { handle: undefined, pdsUrl: undefined, error: `${kind}: ${message}`, checked: false, dueInMs: timing.retryMs }
}
