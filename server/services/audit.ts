// AuditService: runs audits in this process, one at a time (an operator's from the dashboard or the CLI), and the
// background audit of AUDIT_SAMPLE_PER_HOUR random repositories an hour, one every 3600/N seconds. It keeps the last
// report, the running audit's progress, and the drift rate of every repository audited (dashboard and /metrics).
import type pg from 'pg'
import { AuditBusy } from '../audit/audit-busy.js'
import { AuditRun, type AuditProgress, type AuditRequest, type AuditRunDeps } from '../audit/audit-run.js'
import { DriftMeter, type DriftView } from '../audit/drift.js'
import { differenceCount, type AuditReport, type DifferenceKind } from '../audit/report.js'
import { abortableSleep } from '../lib/sleep.js'

export type AuditServiceDeps = Omit<AuditRunDeps, 'onRepo' | 'db'> & {
  /** The audit's own pool: its reads never take the API's or the writers' connections. */
  db: pg.Pool
  /** AUDIT_SAMPLE_PER_HOUR; 0: no background audit. */
  samplePerHour: number
  now?: () => number
}

export type AuditStatus = {
  running: AuditProgress | null
  last: AuditReport | null
  /** Why the last audit ended without a report. */
  lastError: string | null
  drift: DriftView
  background: { samplePerHour: number }
}

export type AuditCounters = { reposChecked: number; reposDiffering: number; differences: Record<DifferenceKind, number>; driftRatio: number | null }

/** An audit was asked for while another runs. */
export class AuditService {
  private readonly drift: DriftMeter
  private readonly shutdown = new AbortController()
  private current: { run: AuditRun; done: Promise<AuditReport> } | null = null
  private last: AuditReport | null = null
  private lastError: string | null = null
  private background: Promise<void> | null = null

  constructor(private readonly deps: AuditServiceDeps) {
    this.drift = new DriftMeter(deps.now)
  }

  /** Starts the background audit, when AUDIT_SAMPLE_PER_HOUR asks for one. */
  start(): void {
    if (this.deps.samplePerHour <= 0 || this.background) return
    const everyMs = 3_600_000 / this.deps.samplePerHour
    this.background = (async () => {
      const signal = this.shutdown.signal
      while (!signal.aborted) {
        await abortableSleep(everyMs, signal)
        // An operator's audit is running: this turn is skipped, not queued.
        if (signal.aborted || this.current) continue
        await this.begin({ selection: { mode: 'sample', sample: 1 }, fix: false }, { keepReport: false }).catch((err: Error) =>
          this.deps.log(`Audit: background audit failed: ${err.message}`),
        )
      }
    })()
  }

  async stop(): Promise<void> {
    this.shutdown.abort()
    await Promise.all([this.background, this.current?.done.catch(() => null)])
  }

  /** Starts an audit; throws AuditBusy while one runs. Resolves with its report when it ends. */
  begin(request: AuditRequest, options: { keepReport?: boolean } = {}): Promise<AuditReport> {
    if (this.current) throw new AuditBusy(this.current.run.progress())
    const keep = options.keepReport ?? true
    const run = new AuditRun(request, {
      ...this.deps,
      onRepo: (audit) => {
        this.drift.add(audit)
        if (!keep && differenceCount(audit.differences) > 0) {
          this.deps.log(`Audit: background sample ${audit.did} differs: ${JSON.stringify(audit.differences)}`)
        }
      },
    })
    const done = run.run(this.shutdown.signal).then(
      (report) => {
        if (keep) {
          this.last = report
          this.lastError = null
        }
        return report
      },
      (err: unknown) => {
        if (keep) this.lastError = err instanceof Error ? err.message : String(err)
        throw err
      },
    )
    const entry = { run, done }
    this.current = entry
    void done.finally(() => {
      if (this.current === entry) this.current = null
    }).catch(() => {})
    return done
  }

  /** Starts an audit without waiting for it (the dashboard's); throws AuditBusy while one runs. Its report is kept
   *  here, and a failure is shown as status().lastError. */
  launch(request: AuditRequest): void {
    this.begin(request).catch(() => {})
  }

  status(): AuditStatus {
    return {
      running: this.current?.run.progress() ?? null,
      last: this.last,
      lastError: this.lastError,
      drift: this.drift.view(),
      background: { samplePerHour: this.deps.samplePerHour },
    }
  }

  counters(): AuditCounters {
    return {
      reposChecked: this.drift.checked,
      reposDiffering: this.drift.differing,
      differences: { ...this.drift.differences },
      driftRatio: this.drift.view().total.ratio,
    }
  }
}
