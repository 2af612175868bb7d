// The background worker that keeps every actor's identity verified: it claims actors whose identity_due_at has
// come, resolves them a few at a time, and writes what it learned (identity-update.ts says what). Claims are made
// in Postgres (FOR UPDATE SKIP LOCKED, pushing identity_due_at a lease ahead), so several processes share the work
// and a process that dies leaves its claims to others once the lease runs out. The pushed identity_due_at is also
// the claim's token: a result is written only while the row still holds it, so a result never overwrites a newer
// one (a later claim after the lease ran out) nor an #identity event that made the actor due again meanwhile.
import type pg from 'pg'
import { identityUpdate } from './identity-update.js'
import type { ResolvedIdentity } from './resolve-identity.js'

export type IdentityRefresherOptions = {
  /** Resolutions in flight at once. */
  concurrency: number
  /** A resolved identity is checked again this long after. */
  ttlMs: number
  /** ... and one that could not be resolved just now, this long after. */
  retryMs: number
  /** Actors claimed per query. */
  batch: number
  /** How long a claim holds its actors from other processes (default 5 minutes). */
  leaseMs?: number
  /** How long to wait before looking again when nothing was due (default 1 s); wake() cuts it short. */
  pollMs?: number
}

export type IdentityCounts = {
  /** identity_due_at has come: to be resolved. */
  due: number
  /** Checked, with a handle verified both ways. */
  verified: number
  /** Checked, served as handle.invalid. */
  invalid: number
  /** The last attempt found a problem (identity_error), whether or not a handle was verified before. */
  failed: number
}

type Claim = { did: string; claim: string }

const CLAIM_SQL = `
  WITH due AS (
    SELECT did FROM actors
    WHERE identity_due_at <= now()
    ORDER BY identity_due_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
  )
  UPDATE actors a SET identity_due_at = now() + make_interval(secs => $2::double precision / 1000)
  FROM due WHERE a.did = due.did
  RETURNING a.did, a.identity_due_at::text AS claim`

const WRITE_SQL = `
  UPDATE actors SET
    handle = CASE WHEN $3::boolean THEN handle ELSE $4::text END,
    pds_url = CASE WHEN $5::boolean THEN pds_url ELSE $6::text END,
    identity_error = $7::text,
    identity_checked_at = CASE WHEN $8::boolean THEN now() ELSE identity_checked_at END,
    identity_due_at = now() + make_interval(secs => $9::double precision / 1000)
  WHERE did = $1 AND identity_due_at = $2::timestamptz`

// Claims not started when the refresher stops go back to being due now, not after the lease.
const UNCLAIM_SQL = `
  UPDATE actors a SET identity_due_at = now()
  FROM unnest($1::text[], $2::timestamptz[]) AS c(did, claim)
  WHERE a.did = c.did AND a.identity_due_at = c.claim`

const COUNTS_SQL = `
  SELECT
    count(*) FILTER (WHERE identity_due_at <= now())::int AS due,
    count(*) FILTER (WHERE identity_checked_at IS NOT NULL AND handle IS NOT NULL)::int AS verified,
    count(*) FILTER (WHERE identity_checked_at IS NOT NULL AND handle IS NULL)::int AS invalid,
    count(*) FILTER (WHERE identity_error IS NOT NULL)::int AS failed
  FROM actors`

export class IdentityRefresher {
  private readonly leaseMs: number
  private readonly pollMs: number
  private loop: Promise<void> | null = null
  private stopping = false
  private wakeUp: (() => void) | null = null
  private idleWaiters: (() => void)[] = []

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: IdentityRefresherOptions,
    private readonly resolve: (did: string) => Promise<ResolvedIdentity>,
    private readonly log: (line: string) => void,
    signal?: AbortSignal,
  ) {
    for (const key of ['concurrency', 'batch'] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < 1) {
        throw new Error(`identity refresher ${key} must be an integer of at least 1, got ${opts[key]}`)
      }
    }
    this.leaseMs = opts.leaseMs ?? 5 * 60_000
    this.pollMs = opts.pollMs ?? 1000
    signal?.addEventListener('abort', () => void this.stop(), { once: true })
  }

  start(): void {
    this.loop ??= this.run()
  }

  /**
   * Finishes the resolutions in flight, gives back the claims not started (and those whose resolution failed once
   * stopping began: a shutdown that aborts its requests is not the DID's failure), and resolves when the loop has ended.
   */
  async stop(): Promise<void> {
    this.stopping = true
    this.wakeUp?.()
    await this.loop
  }

  /** Look for due actors now (an #identity event, new actors) instead of at the next poll. */
  wake(): void {
    this.wakeUp?.()
  }

  /** Resolves the next time the refresher finds nothing due. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve)
      this.wake()
    })
  }

  async counts(): Promise<IdentityCounts> {
    const { rows } = await this.pool.query<IdentityCounts>(COUNTS_SQL)
    return rows[0]
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let claims: Claim[]
      try {
        claims = (await this.pool.query<Claim>(CLAIM_SQL, [this.opts.batch, this.leaseMs])).rows
      } catch (err) {
        this.log(`[IDENTITY] claiming due actors failed, trying again in ${this.pollMs} ms: ${(err as Error).message}`)
        await this.sleep()
        continue
      }
      if (claims.length === 0) {
        for (const resolve of this.idleWaiters.splice(0)) resolve()
        await this.sleep()
        continue
      }
      await this.refreshAll(claims)
    }
  }

  private async refreshAll(claims: Claim[]): Promise<void> {
    const queue = [...claims]
    const worker = async () => {
      while (!this.stopping && queue.length > 0) await this.refresh(queue.shift()!)
    }
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, claims.length) }, worker))
    if (queue.length > 0) await this.giveBack(queue)
  }

  private async giveBack(claims: Claim[]): Promise<void> {
    await this.pool
      .query(UNCLAIM_SQL, [claims.map((c) => c.did), claims.map((c) => c.claim)])
      .catch((err: Error) => this.log(`[IDENTITY] giving back ${claims.length} claims failed: ${err.message}`))
  }

  private async refresh({ did, claim }: Claim): Promise<void> {
    const outcome = await this.resolve(did).then(
      (identity) => ({ identity }),
      (error: unknown) => ({ error }),
    )
    if ('error' in outcome && this.stopping) return this.giveBack([{ did, claim }])
    const u = identityUpdate(outcome, this.opts)
    try {
      await this.pool.query(WRITE_SQL, [
        did,
        claim,
        u.handle === undefined,
        u.handle ?? null,
        u.pdsUrl === undefined,
        u.pdsUrl ?? null,
        u.error,
        u.checked,
        u.dueInMs,
      ])
    } catch (err) {
      // The claim's lease runs out and the actor is taken up again.
      this.log(`[IDENTITY] writing the identity of ${did} failed: ${(err as Error).message}`)
    }
  }

  private sleep(): Promise<void> {
    if (this.stopping) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wakeUp = null
        resolve()
      }
      const timer = setTimeout(done, this.pollMs)
      this.wakeUp = done
    })
  }
}
