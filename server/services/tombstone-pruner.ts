// Keeps the tombstones table bounded: every interval, prunes what no replay can undercut any more
// (indexer/tombstone-prune.ts says which and why). Every instance runs one; they skip each other's rows, so two at
// once prune each tombstone once. A database that is down only delays a round.
import type pg from 'pg'
import { pruneTombstones, type PruneOptions } from '../indexer/tombstone-prune.js'

export type TombstonePrunerOptions = PruneOptions & {
  pool: pg.Pool
  intervalMs: number
  log: (line: string) => void
}

export class TombstonePruner {
  private timer: NodeJS.Timeout | null = null
  private round: Promise<void> | null = null
  private readonly abort = new AbortController()
  private failing = false

  constructor(private readonly opts: TombstonePrunerOptions) {}

  start(): void {
    if (this.timer || this.abort.signal.aborted) return
    this.timer = setInterval(() => void this.prune(), this.opts.intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.round
  }

  /** One round, unless one is under way already. */
  prune(): Promise<void> {
    this.round ??= this.pruneOnce().finally(() => {
      this.round = null
    })
    return this.round
  }

  private async pruneOnce(): Promise<void> {
    const { pool, log, ...options } = this.opts
    try {
      const outcome = await pruneTombstones(pool, options, this.abort.signal)
      if (outcome.pruned > 0) log(`Pruned ${outcome.pruned} tombstone(s) (consumers committed through seq ${outcome.floor ?? 'none yet'})`)
      if (this.failing) log('Tombstones pruned again')
      this.failing = false
    } catch (err) {
      if (!this.failing) log(`Pruning tombstones failed: ${(err as Error).message}; retrying next round`)
      this.failing = true
    }
  }
}
