// Puts the identity service behind every writer without the indexer or the pipeline knowing it: once a batch has
// committed, the DIDs whose #identity events it recorded are handed on, so their cached identities are forgotten
// and the refresher verifies them again within moments instead of at its next poll. A write that failed reports
// nothing: its batch is retried, and the retry reports them.
import type { BatchSink } from '../pipeline/sink.js'

export function withIdentityNotices(sink: BatchSink, identityChanged: (dids: readonly string[]) => Promise<void>): BatchSink {
  return {
    async write(...args) {
      const outcome = await sink.write(...args)
      if (outcome.identityChanged.length > 0) await identityChanged(outcome.identityChanged)
      return outcome
    },
    failureKind: (err) => sink.failureKind(err),
  }
}
