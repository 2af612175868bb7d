// The one error a repository CAR can fail with: callers decide retry or give-up on `kind`, and the message says
// which value was wrong and what was expected, so a failed repo job can show its reason as is.

export type RepoCarErrorKind =
  | 'truncated' // the stream ended inside the header or a block
  | 'too-large' // more bytes than the configured CAR cap; reading stopped there
  | 'bad-block' // a block whose bytes do not hash to its CID
  | 'no-root' // the header names no root, or the root block is not in the CAR
  | 'not-a-commit' // the root block is not a repo commit
  | 'wrong-did' // the commit is another repository's
  | 'bad-signature' // the commit is not signed by the expected key
  | 'missing-block' // an MST node of a whole-repo CAR is absent
  | 'malformed' // bytes that are not a CAR v1 or an MST

export class RepoCarError extends Error {
  override readonly name = 'RepoCarError'
  constructor(
    readonly kind: RepoCarErrorKind,
    message: string,
  ) {
    super(message)
  }
}
