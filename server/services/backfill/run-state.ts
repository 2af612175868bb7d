// What the backfill persists about its run beside the cursor, so a restart resumes the same run (same window,
// same head) instead of starting another, and a finished run stays finished.
import type { BackfillWindow } from '../../config/index.js'

export type RunMeta = {
  relay: string
  /** 'all' is what earlier versions wrote for BACKFILL_DAYS=-1 (everything the source holds), kept so they resume. */
  window: 'all' | 'every-repo' | { days: number }
  /** The cursor the run started from: events after it are replayed. */
  startCursor: number | null
  /** The source's head when the run began: the run is complete once it is written. */
  headSeq: number
  startedAt: string
  /** The moment asked for (now − N days at the start), or null for 'all'. */
  requestedFrom: string | null
  /** The oldest event the source held at the start. */
  availableFrom: { seq: number; time: string } | null
  state: 'running' | 'complete'
  completedAt: string | null
  /**
   * Whether repositories are fetched too, and from which rev (the window's start as a TID; null: all of each).
   * Absent in runs persisted before repositories were fetched: those replay only.
   */
  repos?: { since: string | null } | null
}

/** The window as it is persisted: 'all' is what earlier versions wrote for everything the source holds. */
export function persistedWindow(window: BackfillWindow): RunMeta['window'] {
  if (window.kind === 'held') return 'all'
  if (window.kind === 'all') return 'every-repo'
  return { days: window.days }
}

export function sameRun(meta: RunMeta, relay: string, window: BackfillWindow | null): boolean {
  if (window === null || meta.relay !== relay) return false
  return JSON.stringify(persistedWindow(window)) === JSON.stringify(meta.window)
}
