// The drift rate: of the repositories audited, how many differed from the network, over the last 24 hours and since
// the process started, with the differences by kind. Kept as one bucket per minute (at most 1440 of them), so its
// memory does not grow with how many repositories are audited. Pure: the clock is passed in.
import { DIFFERENCE_KINDS, differenceCount, emptyDifferences, type DifferenceKind, type RepoAudit } from './report.js'

export type DriftRate = { checked: number; differing: number; ratio: number | null }
export type DriftView = { last24h: DriftRate; total: DriftRate }

const MINUTE_MS = 60_000
const WINDOW_MS = 24 * 60 * MINUTE_MS

const rate = (checked: number, differing: number): DriftRate => ({ checked, differing, ratio: checked > 0 ? differing / checked : null })

export class DriftMeter {
  /** Checked or unavailable repositories: those whose comparison was made. Failed ones say nothing of drift. */
  checked = 0
  differing = 0
  readonly differences: Record<DifferenceKind, number> = emptyDifferences()
  private readonly buckets: { minute: number; checked: number; differing: number }[] = []

  constructor(private readonly now: () => number = Date.now) {}

  add(audit: RepoAudit): void {
    if (audit.outcome === 'failed') return
    const differs = differenceCount(audit.differences) > 0
    this.checked++
    if (differs) this.differing++
    for (const k of DIFFERENCE_KINDS) this.differences[k] += audit.differences[k]
    const minute = Math.floor(this.now() / MINUTE_MS)
    let last = this.buckets.at(-1)
    if (!last || last.minute !== minute) this.buckets.push((last = { minute, checked: 0, differing: 0 }))
    last.checked++
    if (differs) last.differing++
    this.trim()
  }

  view(): DriftView {
    this.trim()
    const day = this.buckets.reduce((s, b) => ({ checked: s.checked + b.checked, differing: s.differing + b.differing }), { checked: 0, differing: 0 })
    return { last24h: rate(day.checked, day.differing), total: rate(this.checked, this.differing) }
  }

  private trim(): void {
    const oldest = Math.floor((this.now() - WINDOW_MS) / MINUTE_MS)
    while (this.buckets.length && this.buckets[0]!.minute <= oldest) this.buckets.shift()
  }
}
