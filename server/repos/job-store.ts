// Where the repository jobs live: one row per repository in `repos`, handed out to fetchers under leases so that any
// number of instances can share them, and a restart resumes with a query. Every state change is an UPDATE whose
// WHERE accepts only the states job-state.ts allows the move from, and, for a fetching job, only its lease holder.
//
// Guarantees: a claim takes a row lock (FOR UPDATE SKIP LOCKED), so two claims never hand out the same job; a job
// whose holder died is claimable again once its lease has lapsed (the holder's heartbeat stopped, or the lease ran
// out: db/lease-liveness.ts); a done job is never claimed again until reset. A holder whose lease lapsed keeps it
// until someone else claims the job: its markDone still succeeds until then.
import type pg from 'pg'
import { leaseLapsed } from '../db/lease-liveness.js'
import type { Transaction } from '../pipeline/sink.js'
import {
  DEFAULT_RETRY_POLICY,
  JOB_STATES,
  type JobState,
  type RepoJobStatus,
  type RetryPolicy,
  afterFailure,
  canTransition,
  isJobState,
  sourcesOf,
} from './job-state.js'

/** A repository as listed, to be fetched (or recorded as unavailable when the listing says it is inactive). */
export type EnqueueEntry = {
  did: string
  /** 'relay', 'pds:<host>', 'config', ... */
  discoveredVia: string
  /** fetch only what changed after this rev; null: the whole repository */
  since: string | null
  active: boolean
  /** the account status the listing gave (takendown, deactivated, ...) */
  status: string | null
  /** the PDS hostname, when the listing tells it (a PDS lists its own repositories) */
  host?: string | null
}

/** A job handed to a fetcher. */
export type RepoJob = {
  did: string
  discoveredVia: string
  host: string | null
  since: string | null
  /** the rev of the last fetch, for a resync */
  rev: string | null
  /** failures so far */
  attempts: number
  leaseUntil: Date
}

export type RepoRow = {
  did: string
  discoveredVia: string
  host: string | null
  since: string | null
  updatedAt: Date
  status: RepoJobStatus
}

/** `dataCid` is null when the PDS said nothing changed since the window's start (an empty `since` diff). */
export type DoneInfo = { rev: string; dataCid: string | null; records: number; host: string }

/** What recording a failure did: the job waits for another try, has none left, or was no longer this owner's. */
export type FailureOutcome = 'retrying' | 'given-up' | 'not-held'

export type FailureView = { did: string; host: string | null; reason: string; attempts: number; nextTryAt: Date | null }

export type HostCounts = { host: string | null; pending: number; fetching: number; done: number; failed: number }

export type JobCounts = Record<JobState, number> & { total: number }

export type ClaimOptions = { avoidHosts?: string[]; resyncsOnly?: boolean }

/** The pool, or the writer's transaction (a CommitStep's `tx`), so done commits with the repository's rows. */
type Queryable = Pick<pg.Pool, 'query'> | Transaction

export interface RepoJobStore {
  /** Adds repositories not seen before; never resets a known one. Returns how many were new. */
  enqueue(entries: EnqueueEntry[]): Promise<number>
  /**
   * Takes up to `limit` jobs for `owner` for `leaseMs`: pending ones, failed ones due, and fetching ones whose lease
   * lapsed; jobs on `avoidHosts` (parked, saturated) are left. With `resyncsOnly`, only repositories queued for a
   * resync (their position says 'resyncing'): what keeps the index true when no backfill run is fetching.
   */
  claim(owner: string, limit: number, leaseMs: number, options?: ClaimOptions): Promise<RepoJob[]>
  /** Extends the leases `owner` still holds; returns those dids. */
  renew(owner: string, dids: string[], leaseMs: number): Promise<string[]>
  /** In the writer's transaction (pass its client), so a repository's rows and its done state commit together. */
  markDone(client: Queryable, did: string, owner: string, info: DoneInfo): Promise<boolean>
  markFailed(did: string, owner: string, reason: string, options: { retryable: boolean; host?: string }): Promise<FailureOutcome>
  markUnavailable(did: string, owner: string, status: string | null, reason: string): Promise<boolean>
  /** A job whose host is parked goes back to pending, its host recorded so claims pass over it meanwhile; no attempt counted. */
  defer(did: string, owner: string, host: string): Promise<boolean>
  /**
   * Jobs `owner` holds go back to pending: `dids` only (a worker stopping), or every one (a clean shutdown, or a
   * restart with the same instance id giving back what its previous life held). Returns how many.
   */
  release(owner: string, dids?: readonly string[]): Promise<number>
  /** Fetch `did` again (only what changed after `since`; null: all), whatever its state; adds it if unknown. */
  reset(did: string, since: string | null): Promise<void>
  /**
   * A new backfill run (another window): every known repository is to be fetched again, since `since`. Jobs held
   * by a live instance are left to finish. Returns how many were reset.
   */
  restartAll(since: string | null): Promise<number>
  /** Gives every job that ran out of attempts (or failed for good) another round. Returns how many. */
  retryFailed(): Promise<number>
  get(did: string): Promise<RepoRow | null>
  counts(): Promise<JobCounts>
  /** Failed jobs that will be tried again (their next try is set, not given up on). */
  retryingCount(): Promise<number>
  recentFailures(limit: number): Promise<FailureView[]>
  hosts(): Promise<HostCounts[]>
}

/** `state IN (...)` for the states a job may move to `to` from (constants from job-state.ts, not input). */
const from = (to: JobState) => `state IN (${sourcesOf(to).map((s) => `'${s}'`).join(', ')})`

/** `state = '<from>'` for one move, checked against the transitions when this module loads. */
const only = (fromState: JobState, to: JobState) => {
  if (!canTransition(fromState, to)) throw new Error(`job-store: ${fromState} → ${to} is not an allowed transition`)
  return `state = '${fromState}'`
}

// A job's place in its host's queue: one more than the last one given out for that host (see 003_repos_host_rank.sql).
const TOPS = `SELECT h.host,
  CASE WHEN h.host IS NULL THEN (SELECT max(host_rank) FROM repos WHERE host IS NULL)
       ELSE (SELECT max(r.host_rank) FROM repos r WHERE r.host = h.host) END AS top`

const ENQUEUE_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::text[])
    WITH ORDINALITY AS t(did, via, since, active, status, host, ord)
), tops AS (${TOPS} FROM (SELECT DISTINCT host FROM input) h)
INSERT INTO repos (did, state, discovered_via, host, since, account_status, reason, host_rank)
SELECT i.did,
       CASE WHEN i.active THEN 'pending' ELSE 'unavailable' END,
       i.via, i.host, i.since,
       CASE WHEN i.active THEN NULL ELSE i.status END,
       CASE WHEN i.active THEN NULL ELSE 'listed as inactive by ' || i.via END,
       coalesce(t.top, 0) + row_number() OVER (PARTITION BY i.host ORDER BY i.ord)
FROM input i JOIN tops t ON t.host IS NOT DISTINCT FROM i.host
ORDER BY i.ord
ON CONFLICT (did) DO UPDATE SET host = EXCLUDED.host, host_rank = EXCLUDED.host_rank, updated_at = now()
  -- a job the relay listed learns its host from a PDS's listing, and takes its place in that host's queue
  WHERE repos.host IS NULL AND EXCLUDED.host IS NOT NULL AND repos.state = 'pending'
RETURNING (xmax = 0) AS inserted`

const CLAIM_SQL = `
WITH picked AS (
  SELECT did FROM repos
  WHERE ${from('fetching')}
    AND (state = 'pending'
      OR (state = 'failed' AND next_try_at <= now())
      OR (state = 'fetching' AND ${leaseLapsed('repos')}))
    AND (host IS NULL OR NOT (host = ANY($4::text[])))
    AND (NOT $5::boolean OR EXISTS (SELECT 1 FROM repo_positions p WHERE p.did = repos.did AND p.sync_state = 'resyncing'))
  ORDER BY host_rank, did
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE repos r
SET state = 'fetching', lease_owner = $1, lease_until = now() + $3::integer * interval '1 millisecond', lease_ms = $3::integer, updated_at = now()
FROM picked WHERE r.did = picked.did
RETURNING r.did, r.discovered_via, r.host, r.since, r.rev, r.attempts, r.lease_until`

const RESET_SQL = `
WITH tops AS (${TOPS} FROM (SELECT NULL::text AS host) h)
INSERT INTO repos (did, state, discovered_via, since, host_rank)
SELECT $1, 'pending', 'resync', $2, coalesce(top, 0) + 1 FROM tops
ON CONFLICT (did) DO UPDATE SET
  state = 'pending',
  -- a job not yet done must still fetch what its earlier since asked for: keep the earlier of the two
  since = CASE WHEN repos.state = 'done' THEN EXCLUDED.since
               WHEN repos.since IS NULL OR EXCLUDED.since IS NULL THEN NULL
               ELSE least(repos.since, EXCLUDED.since) END,
  attempts = 0, next_try_at = now(), reason = NULL, account_status = NULL,
  lease_owner = NULL, lease_until = NULL, lease_ms = NULL, updated_at = now()
WHERE repos.${from('pending')} OR repos.state = 'pending'`

type Row = {
  did: string
  state: string
  discovered_via: string
  host: string | null
  since: string | null
  rev: string | null
  data_cid: string | null
  records: string
  attempts: number
  next_try_at: Date | number
  reason: string | null
  account_status: string | null
  lease_owner: string | null
  lease_until: Date | null
  updated_at: Date
}

/** pg reads timestamptz 'infinity' (a job that is not retried) as the number Infinity. */
const finiteDate = (value: Date | number): Date | null =>
  value instanceof Date ? value : Number.isFinite(value) ? new Date(value) : null

const toStatus = (row: Row): RepoJobStatus => {
  const state = row.state
  if (!isJobState(state)) throw new Error(`repos row ${row.did} has state "${state}", expected one of ${JOB_STATES}`)
  switch (state) {
    case 'pending':
      return { state }
    case 'fetching':
      return { state, leaseOwner: row.lease_owner ?? '', leaseUntil: row.lease_until ?? new Date(0) }
    case 'done':
      return { state, rev: row.rev, dataCid: row.data_cid, records: Number(row.records) }
    case 'failed':
      return { state, reason: row.reason ?? '', attempts: row.attempts, nextTryAt: finiteDate(row.next_try_at) }
    case 'unavailable':
      return { state, accountStatus: row.account_status, reason: row.reason }
  }
}

export class PgRepoJobStore implements RepoJobStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly retry: RetryPolicy = DEFAULT_RETRY_POLICY,
    private readonly random: () => number = Math.random,
  ) {}

  async enqueue(entries: EnqueueEntry[]): Promise<number> {
    // one row per did: ON CONFLICT DO UPDATE may not touch a row twice in one statement
    const byDid = new Map<string, EnqueueEntry>()
    for (const e of entries) if (!byDid.has(e.did)) byDid.set(e.did, e)
    if (byDid.size === 0) return 0
    const list = [...byDid.values()]
    const { rows } = await this.pool.query<{ inserted: boolean }>(ENQUEUE_SQL, [
      list.map((e) => e.did),
      list.map((e) => e.discoveredVia),
      list.map((e) => e.since),
      list.map((e) => e.active),
      list.map((e) => e.status),
      list.map((e) => e.host ?? null),
    ])
    return rows.filter((r) => r.inserted).length
  }

  async claim(owner: string, limit: number, leaseMs: number, options: ClaimOptions = {}): Promise<RepoJob[]> {
    if (limit <= 0) return []
    const { rows } = await this.pool.query<Row>(CLAIM_SQL, [owner, limit, leaseMs, options.avoidHosts ?? [], options.resyncsOnly ?? false])
    return rows.map((r) => ({
      did: r.did,
      discoveredVia: r.discovered_via,
      host: r.host,
      since: r.since,
      rev: r.rev,
      attempts: r.attempts,
      leaseUntil: r.lease_until ?? new Date(0),
    }))
  }

  async renew(owner: string, dids: string[], leaseMs: number): Promise<string[]> {
    if (dids.length === 0) return []
    const { rows } = await this.pool.query<{ did: string }>(
      `UPDATE repos SET lease_until = now() + $3::integer * interval '1 millisecond', lease_ms = $3::integer
       WHERE did = ANY($2::text[]) AND lease_owner = $1 AND state = 'fetching'
       RETURNING did`,
      [owner, dids, leaseMs],
    )
    return rows.map((r) => r.did)
  }

  async markDone(client: Queryable, did: string, owner: string, info: DoneInfo): Promise<boolean> {
    const res = await client.query(
      `UPDATE repos SET state = 'done', rev = $3, data_cid = $4, records = $5, host = $6,
         reason = NULL, account_status = NULL, lease_owner = NULL, lease_until = NULL, lease_ms = NULL, done_at = now(), updated_at = now()
       WHERE did = $1 AND lease_owner = $2 AND ${from('done')}`,
      [did, owner, info.rev, info.dataCid, info.records, info.host],
    )
    return res.rowCount === 1
  }

  async markFailed(
    did: string,
    owner: string,
    reason: string,
    options: { retryable: boolean; host?: string },
  ): Promise<FailureOutcome> {
    const held = await this.pool.query<{ attempts: number }>(
      `SELECT attempts FROM repos WHERE did = $1 AND lease_owner = $2 AND ${from('failed')}`,
      [did, owner],
    )
    const before = held.rows[0]?.attempts
    if (before === undefined) return 'not-held'
    const { attempts, retryInMs } = afterFailure(before, options.retryable, this.retry, this.random)
    // `attempts = $3` makes read-then-write safe without a transaction: a takeover in between changes the owner
    const res = await this.pool.query(
      `UPDATE repos SET state = 'failed', attempts = $4, reason = $5, host = coalesce($7, host),
         next_try_at = CASE WHEN $6::bigint IS NULL THEN 'infinity'::timestamptz
                            ELSE now() + $6::bigint * interval '1 millisecond' END,
         lease_owner = NULL, lease_until = NULL, lease_ms = NULL, updated_at = now()
       WHERE did = $1 AND lease_owner = $2 AND attempts = $3 AND ${from('failed')}`,
      [did, owner, before, attempts, reason, retryInMs, options.host ?? null],
    )
    if (res.rowCount !== 1) return 'not-held'
    return retryInMs === null ? 'given-up' : 'retrying'
  }

  async markUnavailable(did: string, owner: string, status: string | null, reason: string): Promise<boolean> {
    const res = await this.pool.query(
      `UPDATE repos SET state = 'unavailable', account_status = $3, reason = $4,
         lease_owner = NULL, lease_until = NULL, lease_ms = NULL, updated_at = now()
       WHERE did = $1 AND lease_owner = $2 AND ${from('unavailable')}`,
      [did, owner, status, reason],
    )
    return res.rowCount === 1
  }

  async defer(did: string, owner: string, host: string): Promise<boolean> {
    const res = await this.pool.query(
      `UPDATE repos SET state = 'pending', host = $3, lease_owner = NULL, lease_until = NULL, lease_ms = NULL, updated_at = now()
       WHERE did = $1 AND lease_owner = $2 AND ${only('fetching', 'pending')}`,
      [did, owner, host],
    )
    return res.rowCount === 1
  }

  async release(owner: string, dids?: readonly string[]): Promise<number> {
    const res = await this.pool.query(
      `UPDATE repos SET state = 'pending', lease_owner = NULL, lease_until = NULL, lease_ms = NULL, updated_at = now()
       WHERE lease_owner = $1 AND ${only('fetching', 'pending')} AND ($2::text[] IS NULL OR did = ANY($2::text[]))`,
      [owner, dids ?? null],
    )
    return res.rowCount ?? 0
  }

  async reset(did: string, since: string | null): Promise<void> {
    await this.pool.query(RESET_SQL, [did, since])
  }

  async retryFailed(): Promise<number> {
    const res = await this.pool.query(
      `UPDATE repos SET state = 'pending', attempts = 0, next_try_at = now(), updated_at = now()
       WHERE ${only('failed', 'pending')} AND next_try_at = 'infinity'`,
    )
    return res.rowCount ?? 0
  }

  async get(did: string): Promise<RepoRow | null> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM repos WHERE did = $1', [did])
    const row = rows[0]
    if (!row) return null
    return {
      did: row.did,
      discoveredVia: row.discovered_via,
      host: row.host,
      since: row.since,
      updatedAt: row.updated_at,
      status: toStatus(row),
    }
  }

  async counts(): Promise<JobCounts> {
    const { rows } = await this.pool.query<{ state: string; n: string }>(
      'SELECT state, count(*) AS n FROM repos GROUP BY state',
    )
    const counts = { pending: 0, fetching: 0, done: 0, failed: 0, unavailable: 0, total: 0 }
    for (const r of rows) {
      if (!isJobState(r.state)) throw new Error(`repos has rows in state "${r.state}", expected one of ${JOB_STATES}`)
      counts[r.state] = Number(r.n)
      counts.total += Number(r.n)
    }
    return counts
  }

  async restartAll(since: string | null): Promise<number> {
    const res = await this.pool.query(
      `UPDATE repos SET state = 'pending', since = $1, attempts = 0, next_try_at = now(), reason = NULL,
         lease_owner = NULL, lease_until = NULL, lease_ms = NULL, updated_at = now()
       WHERE (${from('pending')} OR state = 'pending') AND NOT (state = 'fetching' AND NOT ${leaseLapsed('repos')})`,
      [since],
    )
    return res.rowCount ?? 0
  }

  async retryingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM repos WHERE state = 'failed' AND next_try_at <> 'infinity'`,
    )
    return Number(rows[0]!.n)
  }

  async recentFailures(limit: number): Promise<FailureView[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT did, host, reason, attempts, next_try_at FROM repos WHERE state = 'failed'
       ORDER BY updated_at DESC, did LIMIT $1`,
      [limit],
    )
    return rows.map((r) => ({
      did: r.did,
      host: r.host,
      reason: r.reason ?? '',
      attempts: r.attempts,
      nextTryAt: finiteDate(r.next_try_at),
    }))
  }

  async hosts(): Promise<HostCounts[]> {
    const { rows } = await this.pool.query<{ host: string | null; pending: string; fetching: string; done: string; failed: string }>(
      `SELECT host,
         count(*) FILTER (WHERE state = 'pending') AS pending,
         count(*) FILTER (WHERE state = 'fetching') AS fetching,
         count(*) FILTER (WHERE state = 'done') AS done,
         count(*) FILTER (WHERE state = 'failed') AS failed
       FROM repos GROUP BY host ORDER BY host NULLS LAST`,
    )
    return rows.map((r) => ({
      host: r.host,
      pending: Number(r.pending),
      fetching: Number(r.fetching),
      done: Number(r.done),
      failed: Number(r.failed),
    }))
  }
}
