// Why an identity could not be resolved, in the few kinds its callers act on differently: a repo job marks a DID
// that is not found (or whose document is unusable) unavailable, and retries one that was merely unavailable.
export type IdentityErrorKind =
  /** The DID has no document (404/410, a tombstoned did:plc, a did:web host that does not exist). */
  | 'not-found'
  /** A document came but cannot be used: not JSON, too large, not for this DID, malformed. */
  | 'invalid-document'
  /** A DID method (or did:web form) atproto does not use, or not a DID at all. */
  | 'unsupported-method'
  /** The document lives on an address the address guard refuses (ALLOW_PRIVATE_HOSTS is off). */
  | 'refused'
  /** The directory or host did not answer usefully just now (down, timeout, 5xx, 429): worth retrying. */
  | 'unavailable'

export class IdentityError extends Error {
  override readonly name = 'IdentityError'
  constructor(
    readonly kind: IdentityErrorKind,
    /** The DID or handle being resolved. */
    readonly subject: string,
    message: string,
  ) {
    super(`${subject}: ${message}`)
  }

  get retryable(): boolean {
    return this.kind === 'unavailable'
  }
}
