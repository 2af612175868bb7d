// Turns the configured window into a run: where the replay starts and the head it ends at, found by probing the
// source (locate.ts) rather than replaying, with one honest line when the source holds less than was asked.
// A source that cannot be reached yet (network down at boot) is retried with backoff, not a failure.
import type { BackfillWindow } from '../../config/index.js'
import type { FrameDecoder } from '../../pipeline/decoder/types.js'
import { backoffMs } from '../../lib/backoff.js'
import { abortableSleep } from '../../lib/sleep.js'
import { findCursorAt, findHead, findOldest } from './locate.js'
import { ProbeAborted, SourceUnreachable, createProbe } from './probe.js'
import { persistedWindow, type RunMeta } from './run-state.js'

export type WindowPlanOptions = {
  relay: string
  decoder: FrameDecoder
  window: BackfillWindow
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
  const { relay, window } = opts
  const probe = createProbe({ service: relay, decoder: opts.decoder, quietMs: opts.probeQuietMs, signal: opts.signal })
  opts.log(`Locating the window on ${relay}`)
  const head = await findHead(probe)
  const oldest = await findOldest(probe)
  const startedAt = new Date()
  const base = {
    relay,
    window: persistedWindow(window),
    headSeq: head,
    startedAt: startedAt.toISOString(),
    availableFrom: oldest,
    state: 'running' as const,
    completedAt: null,
  }
  if (!oldest) {
    opts.log(`The source holds no events yet (head ${head}); nothing to backfill`)
    return { ...base, startCursor: head, requestedFrom: null }
  }
  const heldHours = (startedAt.getTime() - Date.parse(oldest.time)) / 3_600_000
  const held = `the source holds ${heldHours.toFixed(1)} hours of history (from ${oldest.time}, seq ${oldest.seq}) up to head seq ${head}`
  if (window.kind === 'held') {
    opts.log(`Window: everything the source holds: ${held}`)
    return { ...base, startCursor: oldest.seq - 1, requestedFrom: null }
  }
  const cutoff = new Date(startedAt.getTime() - window.days * 86_400_000)
  if (Date.parse(oldest.time) >= cutoff.getTime()) {
    opts.log(
      `Window: ${window.days} days asked (from ${cutoff.toISOString()}), but ${held}; backfilling all of it. ` +
        'Relays keep only about 72 hours of replay: older history needs a full-repo sync, which this backfill does not do',
    )
    return { ...base, startCursor: oldest.seq - 1, requestedFrom: cutoff.toISOString() }
  }
  const startCursor = await findCursorAt(probe, cutoff, oldest, head)
  opts.log(`Window: ${window.days} days from ${cutoff.toISOString()} starts after seq ${startCursor}; ${held}`)
  return { ...base, startCursor, requestedFrom: cutoff.toISOString() }
}
