// What a bench run does: the modes, the order they run in, and the two variants (full, quick) with their workload,
// warm-ups and measurement windows.
import type { DecoderName } from '../../server/config/index.js'
import { PROFILES, type ProfileName, type ThrottleSettings } from '../../server/config/profiles.js'

export const MODES = ['idle', 'background', 'moderate', 'fast', 'adaptive', 'max', 'max-verified', 'max-x2'] as const
export type ModeName = (typeof MODES)[number]

/**
 * The order modes run in. `idle` comes right after `adaptive` and serves a copy of the database adaptive just
 * wrote, so the API baseline and the adaptive run answer the same queries over the same data. `max` runs last: in
 * the full variant it goes on to the end of the million-event workload. `max-x2`, right after it, is the same replay
 * by two server processes on one database (they share the window as seq ranges), compared with `max`'s one.
 * `max-verified` is `max` with BACKFILL_DECODER=verified (every commit's signature and MST proofs checked against
 * DID documents the bench serves), compared with `max`'s lean decoder in the same run.
 */
export const RUN_ORDER: readonly ModeName[] = ['background', 'moderate', 'fast', 'adaptive', 'idle', 'max', 'max-verified', 'max-x2']

export type Variant = 'full' | 'quick'

export type RunConfig = {
  variant: Variant
  workload: { seed: string; accounts: number; events: number }
  /** Seconds of warm-up after the first batch commits (idle: after the server listens), per mode. */
  warmupS: Record<ModeName, number>
  /** Seconds of measurement, per mode (max and adaptive end early if the workload runs out). */
  windowS: Record<ModeName, number>
  /** Requests per second to each API endpoint, during warm-up and window alike. */
  apiRatePerSec: number
  /** After its window, `max` goes on to the end of the workload, for the whole-run figures (peak RSS). */
  maxToEnd: boolean
  /** Seconds of API load measured after `max` completes, on its full database with the backfill done (0: skip). */
  afterCompleteS: number
  /** At most this long for `max`'s whole run, window included. */
  maxRunCapS: number
  /** When `idle` runs with no database before it to copy: how many events to backfill into its database first. */
  idleSeedEvents: number
  /** The whole bench must end within this (workload generation excluded); past it, it stops with an error. */
  deadlineS: number
  /** The budget the adaptive governor gets. */
  adaptive: { maxCpuPercent: number; maxLagMs: number }
  /** The limit measured before the modes (limit.ts): over this many frames (null: the whole workload), in chunks. */
  limit: { events: number | null; chunkFrames: number; timeoutS: number }
}

const each = (v: number, overrides: Partial<Record<ModeName, number>> = {}): Record<ModeName, number> =>
  Object.fromEntries(MODES.map((m) => [m, overrides[m] ?? v])) as Record<ModeName, number>

export const CONFIGS: Record<Variant, RunConfig> = {
  full: {
    variant: 'full',
    workload: { seed: 'skyfill', accounts: 5000, events: 1_000_000 },
    warmupS: each(10, { adaptive: 20, max: 5, 'max-verified': 5, 'max-x2': 5 }),
    windowS: each(60),
    apiRatePerSec: 10,
    maxToEnd: true,
    afterCompleteS: 20,
    maxRunCapS: 40 * 60,
    idleSeedEvents: 20_000,
    deadlineS: 90 * 60,
    adaptive: { maxCpuPercent: 15, maxLagMs: 10 },
    limit: { events: null, chunkFrames: 20_000, timeoutS: 20 * 60 },
  },
  quick: {
    variant: 'quick',
    workload: { seed: 'skyfill', accounts: 1000, events: 50_000 },
    warmupS: each(1.5, { adaptive: 10, max: 1, 'max-verified': 1, 'max-x2': 1 }),
    windowS: each(7, { adaptive: 8, max: 8, 'max-verified': 8, 'max-x2': 8 }),
    apiRatePerSec: 10,
    maxToEnd: true,
    afterCompleteS: 4,
    maxRunCapS: 60,
    idleSeedEvents: 3000,
    deadlineS: 420,
    adaptive: { maxCpuPercent: 15, maxLagMs: 10 },
    limit: { events: null, chunkFrames: 10_000, timeoutS: 120 },
  },
}

export function profileOf(mode: ModeName): ProfileName | null {
  if (mode === 'idle') return null
  return mode === 'max-x2' || mode === 'max-verified' ? 'max' : mode
}

/** The decoder the mode's server is told to use; null: the configuration's default (lean). */
export function decoderOf(mode: ModeName): DecoderName | null {
  return mode === 'max-verified' ? 'verified' : null
}

/** How many server processes share the mode's database. */
export function instancesOf(mode: ModeName): number {
  return mode === 'max-x2' ? 2 : 1
}

/** The replay modes that run until the workload ends, and so may end their window early. */
export function mayComplete(mode: ModeName): boolean {
  return mode === 'max' || mode === 'max-verified' || mode === 'max-x2' || mode === 'adaptive'
}

export function settingsOf(mode: ModeName): ThrottleSettings | null {
  const p = profileOf(mode)
  return p ? PROFILES[p] : null
}

/** The rate a static profile is built for: one batch per delay. Null for max, adaptive and idle. */
export function nominalRate(mode: ModeName): number | null {
  if (mode !== 'background' && mode !== 'moderate' && mode !== 'fast') return null
  const s = PROFILES[mode]
  return (s.batchSize * 1000) / s.batchDelayMs
}
