// The sync spec's rules for following one repository's history, as a pure function: given what was applied last
// (rev and data CID) and a batch's #commit/#sync positions for that repo, what is applied now, and whether this
// consumer missed something (then the repo is desynchronized and a resync will repair it).
//
// Batches do not commit in seq order (several writers run at once, and the live firehose runs ahead of a backfill
// replaying older events), so a commit whose predecessor has not been applied yet is not proof of a gap: it opens a
// *hole* (after, before] — "a commit with rev `before` precedes what was applied, and `after` is the last rev applied
// before it". Commits landing later fill holes from either side. A hole still open once every event before the seq
// that opened it has been written is a real gap: the resync scheduler confirms those (confirmGaps). Holes are few
// (one per batch overtaken); past MAX_HOLES the repo is treated as desynchronized rather than tracked further.
import { TID } from '@atproto/common'
import type { SyncState } from './sync-states.js'

/** Revs applied on both sides; everything strictly between was not (yet) applied. */
export type Hole = {
  /** the last rev applied before the hole */
  after: string
  /** the data CID after `after`: the next commit's prevData must equal it */
  afterData: string | null
  /** the `since` of the first commit applied after the hole: the hole's last commit has this rev */
  before: string
  /** that commit's prevData: the data CID the hole's last commit must end with */
  beforePrevData: string | null
  /** the seq of the commit that revealed the hole; every commit missing from it has a smaller seq */
  seq: number
}

export type Position = {
  /** the newest rev applied, and its data CID: what a resync or getLatestCommit is compared with */
  rev: string | null
  data: string | null
  state: SyncState
  reason: string | null
  /** what was missed, for the state's reason */
  gap: Record<string, unknown> | null
  holes: Hole[]
}

/** A #commit's or #sync's position, as planned by prepare.ts. */
export type PositionEvent =
  | { kind: 'commit'; seq: number; rev: string; since: string | null; prevData: string | null; data: string }
  | { kind: 'sync'; seq: number; rev: string; data: string }

/** What the rows of `rejects` keep of it: gaps found and #sync events seen, resolved once nothing is left to repair. */
export type ChainRecord = {
  category: 'gap' | 'sync'
  seq: number
  reason: string
  detail: Record<string, unknown>
  resolved: boolean
}

export type ChainOutcome = { position: Position; records: ChainRecord[]; changed: boolean; stateChanged: boolean }

export const MAX_HOLES = 16
/** The sync spec: a rev more than a few minutes ahead of the clock is refused, it would block every later commit. */
export const FUTURE_REV_TOLERANCE_MS = 5 * 60 * 1000

export const GAP_REASON = {
  sinceMismatch: "commit's since is not the last rev applied",
  prevDataMismatch: "commit's prevData is not the data of the commit before it",
  noSince: 'commit without since after earlier commits',
  tooManyHoles: 'too many commits applied out of order to follow',
  missed: 'commits missed: still missing after every earlier event was written',
  latestCommit: "the repo's latest commit differs from the last applied",
} as const

/** One reason for every #sync row, so a replayed #sync is the same row; what it did is in its detail. */
export const SYNC_RECORD_REASON = 'sync event'
export const SYNC_OUTCOME = {
  first: 'first position of the repo',
  duplicate: 'at or below the rev applied',
  sameData: 'same data as applied, rev moved',
  differs: 'repo data differs from what was applied',
} as const

export const EMPTY_POSITION: Position = { rev: null, data: null, state: 'active', reason: null, gap: null, holes: [] }

/** The highest rev accepted at `nowMs`: TIDs sort as their timestamps, so a string comparison decides. */
export function revCeiling(nowMs: number): string {
  return TID.fromTime((nowMs + FUTURE_REV_TOLERANCE_MS) * 1000, 31).toString()
}

/** Applies `events` (one repo's, in any order) to `stored`; they are taken in rev order, then seq. */
export function advance(stored: Position, events: readonly PositionEvent[]): ChainOutcome {
  let position: Position = { ...stored, holes: [...stored.holes] }
  const records: ChainRecord[] = []
  let changed = false
  const sorted = [...events].sort((a, b) => (a.rev < b.rev ? -1 : a.rev > b.rev ? 1 : a.seq - b.seq))
  for (const event of sorted) {
    const step = event.kind === 'sync' ? applySync(position, event) : applyCommit(position, event)
    if (step.record) records.push(step.record)
    if (step.position !== position) {
      position = step.position
      changed = true
    }
  }
  return { position, records, changed, stateChanged: position.state !== stored.state }
}

type Step = { position: Position; record?: ChainRecord }

function applyCommit(p: Position, c: Extract<PositionEvent, { kind: 'commit' }>): Step {
  const moved = { ...p, rev: c.rev, data: c.data }
  if (p.rev === null) return { position: moved }
  // Out of sync already: the resync will set things right; meanwhile the newest rev applied is tracked.
  if (p.state !== 'active') return c.rev > p.rev ? { position: moved } : { position: p }
  if (c.rev <= p.rev) return fillHole(p, c)
  if (c.since === p.rev) {
    if (c.prevData !== null && p.data !== null && c.prevData !== p.data) {
      return desync(moved, c.seq, GAP_REASON.prevDataMismatch, { rev: c.rev, since: c.since, prevData: c.prevData, expected: p.data })
    }
    return { position: moved }
  }
  if (c.since === null) return desync(moved, c.seq, GAP_REASON.noSince, { rev: c.rev, after: p.rev })
  if (c.since < p.rev) return desync(moved, c.seq, GAP_REASON.sinceMismatch, { rev: c.rev, since: c.since, after: p.rev })
  const hole: Hole = { after: p.rev, afterData: p.data, before: c.since, beforePrevData: c.prevData, seq: c.seq }
  return withHoles(moved, [...p.holes, hole], c.seq)
}

// An older commit either lands in a hole (a predecessor arriving late) or was applied already (a duplicate).
function fillHole(p: Position, c: Extract<PositionEvent, { kind: 'commit' }>): Step {
  const index = p.holes.findIndex((h) => h.after < c.rev && c.rev <= h.before)
  if (index === -1) return { position: p }
  const h = p.holes[index]
  const rest = p.holes.filter((_, i) => i !== index)
  const detail = { rev: c.rev, since: c.since, after: h.after, before: h.before }
  if (c.since === null || c.since < h.after) return desync(p, c.seq, GAP_REASON.sinceMismatch, detail)
  if (c.since === h.after && c.prevData !== null && h.afterData !== null && c.prevData !== h.afterData) {
    return desync(p, c.seq, GAP_REASON.prevDataMismatch, { ...detail, prevData: c.prevData, expected: h.afterData })
  }
  if (c.rev === h.before && h.beforePrevData !== null && c.data !== h.beforePrevData) {
    return desync(p, c.seq, GAP_REASON.prevDataMismatch, { ...detail, data: c.data, expected: h.beforePrevData })
  }
  const split: Hole[] = []
  if (c.since > h.after) split.push({ ...h, before: c.since, beforePrevData: c.prevData, seq: c.seq })
  if (c.rev < h.before) split.push({ ...h, after: c.rev, afterData: c.data })
  return withHoles(p, [...rest, ...split], c.seq)
}

function applySync(p: Position, s: Extract<PositionEvent, { kind: 'sync' }>): Step {
  const record = (outcome: string, resolved: boolean): ChainRecord => ({
    category: 'sync',
    seq: s.seq,
    reason: SYNC_RECORD_REASON,
    detail: { outcome, rev: s.rev, data: s.data, applied: p.rev, appliedData: p.data },
    resolved,
  })
  if (p.rev === null) return { position: { ...p, rev: s.rev, data: s.data }, record: record(SYNC_OUTCOME.first, true) }
  if (s.rev <= p.rev) return { position: p, record: record(SYNC_OUTCOME.duplicate, true) }
  const moved = { ...p, rev: s.rev, data: s.data }
  if (s.data === p.data) return { position: moved, record: record(SYNC_OUTCOME.sameData, true) }
  const differs = record(SYNC_OUTCOME.differs, false)
  // Already out of sync: the resync under way settles this one too.
  if (p.state !== 'active') return { position: moved, record: differs }
  const reason = `${SYNC_RECORD_REASON}: ${SYNC_OUTCOME.differs}`
  return { position: { ...moved, state: 'desynchronized', reason, gap: differs.detail, holes: [] }, record: differs }
}

function withHoles(p: Position, holes: Hole[], seq: number): Step {
  if (holes.length > MAX_HOLES) return desync(p, seq, GAP_REASON.tooManyHoles, { holes: holes.length })
  return { position: { ...p, holes } }
}

function desync(p: Position, seq: number, reason: string, detail: Record<string, unknown>): Step {
  return {
    position: { ...p, state: 'desynchronized', reason, gap: { seq, ...detail }, holes: [] },
    record: { category: 'gap', seq, reason, detail, resolved: false },
  }
}
