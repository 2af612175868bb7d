// Keeps concurrent batch transactions from interleaving on the same record. Under READ COMMITTED two transactions
// in flight at once do not see each other's rows: a create's tombstone check misses a delete that has not committed
// yet, and the delete misses the create's uncommitted row, so both commit and a deleted record comes back (likewise
// an account deletion's purge and a batch still writing that account's records). So a batch first takes, in this
// process, an exclusive lock on every record URI it writes or deletes, and a batch that deletes an account takes
// every batch's lock at once: whoever comes second starts only after the first has committed, and sees its rows.
//
// The locks live in this process (main.ts hands one RecordLocks to the backfill's and the live firehose's writers),
// not in Postgres:
// advisory locks would take one shared-memory lock slot per URI, and a batch of thousands of URIs could exhaust
// the lock table. Keys are taken in sorted order, so two batches can never wait on each other.

type Release = () => void

/** Exclusive locks on string keys, granted in request order per key. */
class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>()

  /** Resolves once every key is held; the returned function releases them all. */
  async acquire(keys: Iterable<string>): Promise<Release> {
    const releases: Release[] = []
    try {
      for (const key of [...new Set(keys)].sort()) {
        const previous = this.tails.get(key) ?? Promise.resolve()
        let release!: () => void
        const held = new Promise<void>((resolve) => (release = resolve))
        const tail = previous.then(() => held)
        this.tails.set(key, tail)
        releases.push(() => {
          release()
          if (this.tails.get(key) === tail) this.tails.delete(key)
        })
        await previous
      }
    } catch (err) {
      for (const r of releases) r()
      throw err
    }
    return () => {
      for (const r of releases) r()
    }
  }
}

/** Shared for ordinary batches, exclusive for a batch that deletes an account (rare: it waits for all others). */
class BatchGate {
  private shared = 0
  private exclusive: Promise<void> | null = null
  private drained: (() => void) | null = null

  async acquire(exclusive: boolean): Promise<Release> {
    while (this.exclusive) await this.exclusive
    if (!exclusive) {
      this.shared++
      return () => {
        this.shared--
        if (this.shared === 0) this.drained?.()
      }
    }
    let done!: () => void
    this.exclusive = new Promise<void>((resolve) => (done = resolve))
    if (this.shared > 0) await new Promise<void>((resolve) => (this.drained = resolve))
    this.drained = null
    return () => {
      this.exclusive = null
      done()
    }
  }
}

/** The locks every writer of one process shares. */
export class RecordLocks {
  private readonly gate = new BatchGate()
  private readonly records = new KeyLocks()

  /** Waits until no other batch writes any of `uris` (or deletes an account, or, if `deletesAccount`, writes at all). */
  async lock(uris: Iterable<string>, deletesAccount: boolean): Promise<Release> {
    const releaseGate = await this.gate.acquire(deletesAccount)
    try {
      const releaseRecords = await this.records.acquire(uris)
      return () => {
        releaseRecords()
        releaseGate()
      }
    } catch (err) {
      releaseGate()
      throw err
    }
  }
}
