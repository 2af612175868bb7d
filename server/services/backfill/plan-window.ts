// Turns the configured window into a run: where the replay starts and the head it ends at, found by probing the
// source (locate.ts) rather than replaying, with one honest line when the source holds less than was asked. A run
// never replays at or below the tombstone horizon (indexer/tombstone-prune.ts): what is older comes from the
// repositories.
// A source that cannot be reached yet (network down at boot) is retried with backoff, not a failure.
import { TID } from '@atproto/common'
import type { BackfillWindow } from '../../config/index.js'
import type { FrameDecoder } from '../../pipeline/decoder/types.js'
import { backoffMs } from '../../lib/backoff.js'
import { formatSpan, plural } from '../format.js'
import { abortableSleep } from '../../lib/sleep.js'
import { findCursorAt, findHead, findOldest } from './locate.js'
import { ProbeAborted, SourceUnreachable, createProbe } from './probe.js'
import { persistedWindow, type RunMeta } from './run-state.js'

export type WindowPlanOptions = {
  relay: string
  decoder: FrameDecoder
  window: BackfillWindow
  /** The highest seq of this relay whose delete's tombstone may be pruned; null: none was. */
  tombstoneHorizon: number | null
  /** How long a probe waits for a first frame before calling a cursor the head. */
  probeQuietMs: number
  log: (line: string) => void
  /** Each failed attempt to reach the source, for the progress view; null once it answered. */
  onSourceError: (message: string | null) => void
  signal: AbortSignal
}

/** The run to start, or null when stopped before the source could be reached. */
export async function planWindowUntilReachable(opts: WindowPlanOptions): Promise<RunMeta | null> {
  for (let failures = 0; ; failures++) {
    try {
      const meta = await planWindow(opts)
      opts.onSourceError(null)
      return meta
    } catch (err) {
      if (err instanceof ProbeAborted || opts.signal.aborted) return null
      if (!(err instanceof SourceUnreachable)) throw err
      const waitMs = backoffMs(failures, { baseMs: 1000, maxMs: 60_000 })
      opts.onSourceError(err.message)
      opts.log(`Could not locate the window: ${err.message}; retrying in ${waitMs / 1000} s`)
      await abortableSleep(waitMs, opts.signal)
      if (opts.signal.aborted) return null
    }
  }
}

export async function planWindow(opts: WindowPlanOptions): Promise<RunMeta> {
  return respectHorizon(await locateWindow(opts), opts.tombstoneHorizon, opts.log)
}

/**
 * A replay from at or below the horizon would bring back creates of records whose deletes' tombstones are gone (the
 * writer would refuse them all, deleted or not, below each repository's pruned rev): the replay starts after the
 * horizon, and the repositories are fetched for what changed since the window's start instead, at their current
 * state, in which those records are deleted.
 */
export function respectHorizon(meta: RunMeta, horizon: number | null, log: (line: string) => void): RunMeta {
  if (horizon === null || (meta.startCursor !== null && meta.startCursor >= horizon)) return meta
  const startCursor = Math.min(horizon, meta.headSeq)
  const from = meta.requestedFrom ?? meta.availableFrom?.time ?? null
  const repos = meta.repos ?? { since: from === null ? null : revAt(new Date(from)) }
  const fetched = repos.since === null ? 'every repository is fetched whole' : `what changed since rev ${repos.since} is fetched from the repositories`
  log(`Window: tombstones of deletes up to seq ${horizon} were pruned, so the replay starts after seq ${startCursor}; ${fetched}`)
  return { ...meta, startCursor, repos }
}

async function locateWindow(opts: WindowPlanOptions): Promise<RunMeta> {
  const { relay, window } = opts
  const probe = createProbe({ service: relay, decoder: opts.decoder, quietMs: opts.probeQuietMs, signal: opts.signal })
  opts.log(`Locating the window on ${relay}`)
  const head = await findHead(probe)
  const oldest = await findOldest(probe)
  const startedAt = new Date()
  const cutoff = window.kind === 'days' ? new Date(startedAt.getTime() - window.days * 86_400_000) : null
  const base = {
    relay,
    window: persistedWindow(window),
    headSeq: head,
    startedAt: startedAt.toISOString(),
    availableFrom: oldest,
    state: 'running' as const,
    completedAt: null,
    requestedFrom: cutoff?.toISOString() ?? null,
    // Every repository whole for 'all'; for a window the source does not hold (decided below), what changed since.
    repos: window.kind === 'all' ? { since: null } : null,
  }
  const sinceCutoff = cutoff ? { since: revAt(cutoff) } : null
  if (!oldest) {
    const fromRepos = window.kind === 'held' ? '' : '; everything comes from the repositories'
    opts.log(`The source holds no events yet (head ${head})${fromRepos}`)
    return { ...base, startCursor: head, repos: base.repos ?? sinceCutoff }
  }
  const held = `the source holds ${formatSpan(startedAt.getTime() - Date.parse(oldest.time))} of history (from ${oldest.time}, seq ${oldest.seq}) up to head seq ${head}`
  if (window.kind === 'held') {
    opts.log(`Window: everything the source holds: ${held}`)
    return { ...base, startCursor: oldest.seq - 1 }
  }
  if (window.kind === 'all') {
    opts.log(`Window: every record of every repository, fetched whole; ${held}, replayed too`)
    return { ...base, startCursor: oldest.seq - 1 }
  }
  if (Date.parse(oldest.time) >= cutoff!.getTime()) {
    opts.log(
      `Window: ${plural(window.days, 'day')} asked (from ${cutoff!.toISOString()}), but ${held}; replaying all of it, ` +
        `and fetching from the repositories what changed since ${cutoff!.toISOString()} (rev ${sinceCutoff!.since})`,
    )
    return { ...base, startCursor: oldest.seq - 1, repos: sinceCutoff }
  }
  const startCursor = await findCursorAt(probe, cutoff!, oldest, head)
  opts.log(`Window: ${plural(window.days, 'day')} from ${cutoff!.toISOString()} starts after seq ${startCursor}; ${held}`)
  return { ...base, startCursor }
}

/**
 * The repo revision a PDS would have written at `moment`: revs are TIDs, microseconds since the epoch, so a getRepo
 * `since` this rev returns what was written after the moment. Clock id 0: the lowest TID of that microsecond.
 */
export function revAt(moment: Date): string {
  return TID.fromTime(moment.getTime() * 1000, 0).toString()
}
