// Planning a run happens once, whatever the number of instances starting at once: the first to take this
// transaction-scoped advisory lock reads the stored run and, when there is none for this window, plans it and
// stores its ranges; the others wait for the lock, then find that run stored and join it. The lock dies with its
// holder's session, so an instance killed while planning leaves nothing held.
import type pg from 'pg'
import type { AdvisoryKey } from '../../db/session-lock.js'
import { abortableSleep } from '../../lib/sleep.js'

export const BACKFILL_PLAN_LOCK: AdvisoryKey = [0x736b7966, 2]

const RETRY_MS = 250

/** Runs `work` holding the lock; null when `signal` aborted while waiting for it. */
export async function withPlanLock<T>(pool: pg.Pool, signal: AbortSignal, work: () => Promise<T>): Promise<T | null> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const [namespace, id] = BACKFILL_PLAN_LOCK
    for (;;) {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1::int, $2::int) AS ok', [namespace, id])
      if (rows[0]!.ok) break
      await abortableSleep(RETRY_MS, signal)
      if (signal.aborted) {
        await client.query('ROLLBACK')
        return null
      }
    }
    const result = await work()
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}
