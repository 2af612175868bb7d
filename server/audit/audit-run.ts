// One audit: choose the repositories (a random sample of the known DIDs, a list, or all of them), audit each through
// the backfill's fetcher a few at a time (the per-host limiter paces every request, so an audit never goes faster
// than a host allows), and collect the report. With `fix`, repositories that differ are repaired, by the same
// repo workers as a backfill, and audited again; the report says which are equal afterwards.
//
// Memory: the repositories are taken from the database a page at a time; the report keeps every repository that
// differs or could not be checked (with a few examples each), and equal ones only up to a limit.
import type pg from 'pg'
import { statusFor } from './account-check.js'
import { allDids, removeDifferingRows, repairStatus, sampleDids } from './audit-db.js'
import { auditRepo, type RepairPlan, type RepoAuditDeps } from './audit-repo.js'
import {
  addToTotals,
  differenceCount,
  emptyTotals,
  type AuditReport,
  type AuditSelection,
  type AuditTotals,
  type RepoAudit,
} from './report.js'

export type AuditRequest = { selection: AuditSelection; fix: boolean }

export type AuditPhase = 'auditing' | 'repairing' | 're-auditing'

export type AuditProgress = {
  startedAt: string
  selection: AuditSelection
  fix: boolean
  phase: AuditPhase
  /** Repositories audited so far in this phase, of how many (null while --all is still paging through them). */
  reposDone: number
  reposTotal: number | null
  reposDiffering: number
}

export type AuditRunDeps = Omit<RepoAuditDeps, 'keepForRepair' | 'db'> & {
  db: Pick<pg.Pool, 'query'>
  /** Repositories audited at once. */
  concurrency: number
  /** Fetch these repositories whole again (a resync) and resolve once each is finished or given up on. */
  resync: (dids: string[], signal: AbortSignal) => Promise<void>
  /** Have these actors' identities verified again, and resolve once they have been. */
  reverify: (dids: string[], signal: AbortSignal) => Promise<void>
  /** Each repository audited, as it is, before any repair (the drift rate); the re-audits of a repair are not. */
  onRepo?: (audit: RepoAudit) => void
  log: (line: string) => void
}

export const EXAMPLES_PER_KIND = 5
/** Rows kept per repository for a repair; a repository with more is repaired in part and still differs after. */
export const REPAIR_ROWS_PER_REPO = 10_000
/** Equal repositories listed in the report; the rest are counted. */
export const EQUAL_REPOS_LISTED = 1000

export class AuditRun {
  private readonly state: AuditProgress

  constructor(
    private readonly request: AuditRequest,
    private readonly deps: AuditRunDeps,
  ) {
    this.state = {
      startedAt: new Date().toISOString(),
      selection: request.selection,
      fix: request.fix,
      phase: 'auditing',
      reposDone: 0,
      reposTotal: null,
      reposDiffering: 0,
    }
  }

  progress(): AuditProgress {
    return { ...this.state }
  }

  async run(signal: AbortSignal): Promise<AuditReport> {
    const { selection, fix } = this.request
    const chosen = await this.choose(selection)
    this.state.reposTotal = Array.isArray(chosen) ? chosen.length : null
    const first = await this.auditAll(chosen, fix ? REPAIR_ROWS_PER_REPO : 0, signal)
    const report: AuditReport = {
      startedAt: this.state.startedAt,
      finishedAt: '',
      selection,
      fix,
      totals: first.totals,
      repos: first.listed,
      equalReposOmitted: first.omitted,
      repair: null,
    }
    if (fix) {
      const queued = first.listed.filter((r) => differenceCount(r.differences) > 0).map((r) => r.did)
      if (queued.length) await this.repair(first.listed, first.plans, signal)
      this.state.phase = 're-auditing'
      this.state.reposDone = 0
      this.state.reposTotal = queued.length
      this.state.reposDiffering = 0
      const after = queued.length ? await this.auditAll(queued, 0, signal) : { totals: emptyTotals(), listed: [] as RepoAudit[] }
      const still = after.listed.filter((r) => differenceCount(r.differences) > 0).map((r) => r.did)
      report.repair = { queued, repaired: queued.filter((d) => !still.includes(d)), stillDiffering: still, after: after.totals }
    }
    report.finishedAt = new Date().toISOString()
    return report
  }

  private async choose(selection: AuditSelection): Promise<string[] | AsyncIterable<string>> {
    switch (selection.mode) {
      case 'sample':
        return sampleDids(this.deps.db, selection.sample)
      case 'repos':
        return [...new Set(selection.repos)]
      case 'all':
        return allDids(this.deps.db)
    }
  }

  private async auditAll(
    dids: Iterable<string> | AsyncIterable<string>,
    keepForRepair: number,
    signal: AbortSignal,
  ): Promise<{ totals: AuditTotals; listed: RepoAudit[]; omitted: number; plans: Map<string, RepairPlan> }> {
    const totals = emptyTotals()
    const listed: RepoAudit[] = []
    const plans = new Map<string, RepairPlan>()
    let equalListed = 0
    let omitted = 0
    const source = (Symbol.asyncIterator in dids ? dids[Symbol.asyncIterator]() : dids[Symbol.iterator]()) as
      | AsyncIterator<string>
      | Iterator<string>
    // One pull at a time: the workers share the iterator.
    let pulling: Promise<IteratorResult<string>> = Promise.resolve({ done: false, value: '' })
    const next = () => (pulling = pulling.then(() => source.next()))
    const deps: RepoAuditDeps = { ...this.deps, keepForRepair }
    const worker = async () => {
      for (let step = await next(); !step.done && !signal.aborted; step = await next()) {
        const { audit, plan } = await auditRepo(step.value, deps, signal)
        addToTotals(totals, audit)
        this.state.reposDone++
        if (this.state.phase === 'auditing') this.deps.onRepo?.(audit)
        const differs = differenceCount(audit.differences) > 0
        if (differs) this.state.reposDiffering++
        if (plan) plans.set(audit.did, plan)
        if (differs || audit.outcome === 'failed' || equalListed++ < EQUAL_REPOS_LISTED) listed.push(audit)
        else omitted++
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, this.deps.concurrency) }, worker))
    if (signal.aborted) throw signal.reason ?? new Error('the audit was stopped')
    listed.sort((a, b) => (a.did < b.did ? -1 : a.did > b.did ? 1 : 0))
    return { totals, listed, omitted, plans }
  }

  /** Rows a same-rev resync would keep are removed first; then the resyncs, and the identities verified again. */
  private async repair(listed: RepoAudit[], plans: Map<string, RepairPlan>, signal: AbortSignal): Promise<void> {
    this.state.phase = 'repairing'
    const { db, log } = this.deps
    let removed = 0
    for (const [did, plan] of plans) removed += await removeDifferingRows(db, did, plan.rev, plan.rows)
    const resync = [...plans.keys()]
    const reverify = listed.filter((r) => r.differences.handle > 0).map((r) => r.did)
    let statuses = 0
    for (const r of listed) {
      const difference = r.examples.status
      const status = difference && statusFor(difference.remote)
      if (difference && status && (await repairStatus(db, r.did, difference.stored, status))) statuses++
    }
    log(
      `Audit: repairing ${resync.length} repositories (${removed} differing rows removed first), ` +
        `${statuses} account statuses set to what their PDS answered, verifying ${reverify.length} identities again`,
    )
    await Promise.all([resync.length ? this.deps.resync(resync, signal) : null, reverify.length ? this.deps.reverify(reverify, signal) : null])
  }
}
