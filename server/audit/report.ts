// What an audit found, per repository and in total, as the CLI writes it to JSON, the API serves it and the table
// prints it. Pure: built from the results of audit-repo.ts, one repository at a time, with bounded examples.
import type { HandleDifference, StatusDifference } from './account-check.js'
import { RECORD_DIFFERENCE_KINDS, type RecordDifference } from './compare-repo.js'

export const DIFFERENCE_KINDS = [...RECORD_DIFFERENCE_KINDS, 'handle', 'status'] as const
export type DifferenceKind = (typeof DIFFERENCE_KINDS)[number]

export type AuditSelection = { mode: 'sample'; sample: number } | { mode: 'repos'; repos: string[] } | { mode: 'all' }

/** One repository: checked (compared, with or without differences), unavailable (status only), or failed (not checked). */
export type RepoAudit = {
  did: string
  outcome: 'checked' | 'unavailable' | 'failed'
  host: string | null
  /** The fetched commit. */
  rev: string | null
  fetchedAt: string
  /** Why it could not be checked, or why the PDS would not serve it. */
  error: string | null
  records: { compared: number; matching: number; unindexed: number; refused: number; changedAfterFetch: number }
  differences: Record<DifferenceKind, number>
  examples: {
    missing: RecordDifference[]
    extra: RecordDifference[]
    stale: RecordDifference[]
    handle: HandleDifference | null
    status: StatusDifference | null
  }
}

export type AuditTotals = {
  reposChosen: number
  reposChecked: number
  reposUnavailable: number
  reposFailed: number
  /** Checked or unavailable, with at least one difference. */
  reposDiffering: number
  recordsCompared: number
  recordsMatching: number
  recordsUnindexed: number
  recordsRefused: number
  recordsChangedAfterFetch: number
  differences: Record<DifferenceKind, number>
}

export type AuditFix = {
  /** Repositories whose differences were queued for repair (a resync, their identity verified again). */
  queued: string[]
  /** Of those, the ones the audit after the repair found equal. */
  repaired: string[]
  stillDiffering: string[]
  /** The audit of the queued repositories after their repair. */
  after: AuditTotals
}

export type AuditReport = {
  startedAt: string
  finishedAt: string
  selection: AuditSelection
  fix: boolean
  totals: AuditTotals
  /** Every repository that differs or could not be checked, and the equal ones up to a limit. */
  repos: RepoAudit[]
  /** Equal repositories left out of `repos`. */
  equalReposOmitted: number
  /** The repair and its re-audit, with --fix. */
  repair: AuditFix | null
}

export const emptyDifferences = (): Record<DifferenceKind, number> => ({ missing: 0, extra: 0, stale: 0, handle: 0, status: 0 })

export function emptyTotals(): AuditTotals {
  return {
    reposChosen: 0,
    reposChecked: 0,
    reposUnavailable: 0,
    reposFailed: 0,
    reposDiffering: 0,
    recordsCompared: 0,
    recordsMatching: 0,
    recordsUnindexed: 0,
    recordsRefused: 0,
    recordsChangedAfterFetch: 0,
    differences: emptyDifferences(),
  }
}

export const differenceCount = (d: Record<DifferenceKind, number>) => DIFFERENCE_KINDS.reduce((n, k) => n + d[k], 0)

export function addToTotals(totals: AuditTotals, repo: RepoAudit): void {
  totals.reposChosen++
  if (repo.outcome === 'checked') totals.reposChecked++
  else if (repo.outcome === 'unavailable') totals.reposUnavailable++
  else totals.reposFailed++
  if (differenceCount(repo.differences) > 0) totals.reposDiffering++
  totals.recordsCompared += repo.records.compared
  totals.recordsMatching += repo.records.matching
  totals.recordsUnindexed += repo.records.unindexed
  totals.recordsRefused += repo.records.refused
  totals.recordsChangedAfterFetch += repo.records.changedAfterFetch
  for (const k of DIFFERENCE_KINDS) totals.differences[k] += repo.differences[k]
}

/** The differences left after the audit (after the repair, with --fix): what the exit code is made of. */
export function remainingDifferences(report: AuditReport): number {
  if (!report.repair) return differenceCount(report.totals.differences)
  const untouched = report.repos.filter((r) => !report.repair!.queued.includes(r.did))
  return untouched.reduce((n, r) => n + differenceCount(r.differences), 0) + differenceCount(report.repair.after.differences)
}

const KIND_HEADERS: Record<DifferenceKind, string> = { missing: 'missing', extra: 'extra', stale: 'stale', handle: 'handle', status: 'status' }

/** The report as a plain-text table: one line per repository that differs or failed, then the totals. */
export function reportTable(report: AuditReport): string {
  const header = ['repository', 'outcome', 'records', ...DIFFERENCE_KINDS.map((k) => KIND_HEADERS[k])]
  const rows = report.repos
    .filter((r) => r.outcome !== 'checked' || differenceCount(r.differences) > 0)
    .map((r) => [r.did, r.outcome, String(r.records.compared), ...DIFFERENCE_KINDS.map((k) => String(r.differences[k]))])
  const t = report.totals
  rows.push(['total', `${t.reposChecked} checked`, String(t.recordsCompared), ...DIFFERENCE_KINDS.map((k) => String(t.differences[k]))])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const out = [line(header), ...rows.map(line)]
  out.push(
    `${t.reposChosen} repositories chosen: ${t.reposChecked} checked, ${t.reposUnavailable} unavailable, ${t.reposFailed} not checked; ` +
      `${t.reposDiffering} differ. ${t.recordsCompared} records compared, ${t.recordsMatching} equal, ` +
      `${t.recordsRefused} refused when indexed, ${t.recordsChangedAfterFetch} changed after the fetch, ${t.recordsUnindexed} in collections not indexed.`,
  )
  for (const r of report.repos.filter((x) => x.outcome === 'failed')) out.push(`not checked: ${r.did}: ${r.error}`)
  for (const r of report.repos) {
    for (const k of RECORD_DIFFERENCE_KINDS) for (const e of r.examples[k]) out.push(`${k}: at://${r.did}/${e.key} (ours ${e.dbCid ?? 'none'}, repository ${e.carCid ?? 'none'})`)
    if (r.examples.handle) out.push(`handle: ${r.did} is served as ${r.examples.handle.served ?? 'handle.invalid'}, verified ${r.examples.handle.verified ?? 'none'}`)
    if (r.examples.status) out.push(`status: ${r.did} is ${r.examples.status.stored} here, ${r.examples.status.remote} at its PDS`)
  }
  if (report.repair) {
    const f = report.repair
    out.push(
      `repair: ${f.queued.length} repositories queued, ${f.repaired.length} equal afterwards` +
        (f.stillDiffering.length ? `, still differing: ${f.stillDiffering.join(', ')}` : ''),
    )
  }
  return out.join('\n')
}
