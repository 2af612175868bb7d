// The account half of an audit: the handle skyfill serves against the one verified both ways just now, and the
// account status it holds against what the PDS answered for the repository. Pure: the caller resolves and fetches.

export type HandleDifference = { kind: 'handle'; served: string | null; verified: string | null }
export type StatusDifference = { kind: 'status'; stored: string; remote: RemoteAccount }

/** What the PDS said of the repository: it served it (active), or the account status of its refusal. */
export type RemoteAccount = 'active' | 'takendown' | 'suspended' | 'deactivated' | 'deleted' | 'not-found' | 'no-pds'

/** The identity as resolved for the audit; `retryable`: the handle could not be checked just now. */
export type CheckedIdentity = { handle: string | null; retryable: boolean }

/** Null when they agree, or when the handle could not be checked (that says nothing of what is served). */
export function handleDifference(served: string | null, identity: CheckedIdentity): HandleDifference | null {
  if (identity.retryable) return null
  const verified = identity.handle
  return served === verified ? null : { kind: 'handle', served, verified }
}

// A PDS answers RepoNotFound for an account deleted on it; with no PDS at all there is nothing to compare.
const EXPECTED: Record<RemoteAccount, string | null> = {
  active: 'active',
  takendown: 'takendown',
  suspended: 'suspended',
  deactivated: 'deactivated',
  deleted: 'deleted',
  'not-found': 'deleted',
  'no-pds': null,
}

/** The actors.status a PDS's answer means; null when it says nothing (no PDS to ask). */
export function statusFor(remote: RemoteAccount): string | null {
  return EXPECTED[remote]
}

/** `stored`: actors.status (null: no actor row, which is served as active). */
export function statusDifference(stored: string | null, remote: RemoteAccount): StatusDifference | null {
  const expected = statusFor(remote)
  const have = stored ?? 'active'
  return expected === null || expected === have ? null : { kind: 'status', stored: have, remote }
}

export function isRemoteAccount(value: string): value is RemoteAccount {
  return Object.hasOwn(EXPECTED, value)
}
