// Audits one repository: resolves its identity afresh, fetches it whole through the backfill's fetcher (so through
// the same per-host limiter), compares its records with the database's rows and its account with the actor row.
// A repository its PDS will not serve is still checked for its account status; one that cannot be fetched at all is
// reported as not checked, with why.
import type pg from 'pg'
import { moduleFor } from '../indexer/records/index.js'
import { RepoUnavailable, type FetchedRepo } from '../repos/repo-fetcher.js'
import { storedRecords } from '../repos/stored-records.js'
import { handleDifference, isRemoteAccount, statusDifference, type CheckedIdentity, type RemoteAccount } from './account-check.js'
import { actorOf, explainer } from './audit-db.js'
import { compareRecords } from './compare-repo.js'
import { emptyDifferences, type RepoAudit } from './report.js'

export type RepoAuditDeps = {
  db: Pick<pg.Pool, 'query'>
  fetch: (did: string, since: string | null, signal: AbortSignal) => Promise<FetchedRepo>
  /** The DID's identity resolved now, not from a cache: the handle verified both ways. */
  identity: (did: string) => Promise<CheckedIdentity>
  examplesPerKind: number
  /** Rows kept per repository for a repair (0 when the audit does not repair). */
  keepForRepair: number
}

/** What a repair needs of a repository that differs: the fetched rev and the rows a resync would not replace. */
export type RepairPlan = { rev: string; rows: { key: string; cid: string }[]; truncated: boolean }

export async function auditRepo(did: string, deps: RepoAuditDeps, signal: AbortSignal): Promise<{ audit: RepoAudit; plan: RepairPlan | null }> {
  const audit: RepoAudit = {
    did,
    outcome: 'checked',
    host: null,
    rev: null,
    fetchedAt: new Date().toISOString(),
    error: null,
    records: { compared: 0, matching: 0, unindexed: 0, refused: 0, changedAfterFetch: 0 },
    differences: emptyDifferences(),
    examples: { missing: [], extra: [], stale: [], handle: null, status: null },
  }
  const identity = await deps.identity(did).catch((err: Error) => err)
  let remote: RemoteAccount = 'active'
  let plan: RepairPlan | null = null
  let fetched: FetchedRepo | null = null
  try {
    fetched = await deps.fetch(did, null, signal)
    if (!fetched.car) throw new Error('the PDS sent no repository for a whole fetch')
    audit.host = fetched.host
    audit.rev = fetched.rev
    const compared = await compareRecords(fetched.car.keys(), storedRecords(deps.db, did), {
      rev: fetched.rev,
      indexed: (collection) => moduleFor(collection) !== undefined,
      explain: explainer(deps.db, did, fetched.rev),
      examplesPerKind: deps.examplesPerKind,
      keepForRepair: deps.keepForRepair,
    })
    const { differences, examples, repair, repairTruncated, ...records } = compared
    audit.records = records
    Object.assign(audit.differences, differences)
    Object.assign(audit.examples, examples)
    if (differences.missing + differences.extra + differences.stale > 0) plan = { rev: fetched.rev, rows: repair, truncated: repairTruncated }
  } catch (err) {
    if (signal.aborted) throw err
    if (err instanceof RepoUnavailable && isRemoteAccount(err.status)) {
      audit.outcome = 'unavailable'
      audit.error = err.message
      remote = err.status
    } else {
      audit.outcome = 'failed'
      audit.error = err instanceof Error ? err.message : String(err)
      return { audit, plan: null }
    }
  } finally {
    await fetched?.car?.close()
  }
  const actor = await actorOf(deps.db, did)
  const handle = identity instanceof Error ? null : handleDifference(actor?.handle ?? null, identity)
  const status = statusDifference(actor?.status ?? null, remote)
  audit.examples.handle = handle
  audit.examples.status = status
  audit.differences.handle = handle ? 1 : 0
  audit.differences.status = status ? 1 : 0
  return { audit, plan }
}
