// The one place a write is retried, for every kind of work that writes through a BatchSink (the replay's and live
// firehose's pipelines, the repo workers). What went wrong decides: two writers that met (a deadlock) are retried
// soon and a few times; an unreachable database closes the intake gate and is retried with backoff until it is
// back (nothing is lost meanwhile, because nothing more is taken in); anything else is thrown, to fail loudly.
import { backoffMs } from '../lib/backoff.js'
import { abortableSleep } from '../lib/sleep.js'
import type { IntakeGate } from './gate.js'
import type { BatchSink, WriteOutcome } from './sink.js'

/** Two writers meeting on the same rows is retried this often, quickly, before it counts as a bug. */
const CONFLICT_RETRIES = 5

export class RetryingWriter {
  private down = false

  constructor(
    private readonly sink: BatchSink,
    private readonly gate: IntakeGate,
    private readonly log: (line: string) => void,
    private readonly signal: AbortSignal,
  ) {}

  /** True while the database cannot be reached (the gate is closed for it). */
  get databaseDown(): boolean {
    return this.down
  }

  async write(...args: Parameters<BatchSink['write']>): Promise<WriteOutcome> {
    for (let attempt = 0, conflicts = 0; ; attempt++) {
      try {
        const outcome = await this.sink.write(...args)
        if (this.down) {
          this.down = false
          this.gate.open('database')
          this.log('Database reachable again; resuming intake')
        }
        return outcome
      } catch (err) {
        const kind = this.sink.failureKind(err)
        if (kind === 'fatal' || (kind === 'conflict' && ++conflicts > CONFLICT_RETRIES)) throw err
        if (this.signal.aborted) throw new Error(`stopped while the write could not complete: ${(err as Error).message}`)
        if (kind === 'conflict') {
          // Jittered, so the two writers that met do not meet again at once.
          await abortableSleep(20 * conflicts + Math.random() * 50, this.signal)
          continue
        }
        if (!this.down) {
          this.down = true
          this.gate.close('database')
          this.log(`Database unavailable (${(err as Error).message}); pausing intake and retrying with backoff`)
        }
        // Capped low: an outage should end for the backfill within seconds of the database coming back.
        await abortableSleep(backoffMs(attempt, { baseMs: 1000, maxMs: 5000 }), this.signal)
      }
    }
  }
}
