// The figures a reader or a script looks for, named plainly, one record per mode (results.json `figures`), derived
// from the modes' measurements and the limit measured in the same run. Pure, so every ratio is tested on numbers.
import type { LimitResult } from './limit.js'
import type { ModeResult } from './mode.js'

/** The peer indexer's figures on the same frames (filled by a --peer run; null when it did not run). */
export type PeerFigures = { eventsPerSecond: number; recordsPerSecond: number | null; events: number }

export type ModeFigures = {
  /** Server processes sharing the mode's database. */
  instances: number
  /** Frames committed per second over the window, summed over the instances; null for idle. */
  eventsPerSecond: number | null
  /** Record rows written (upserted or deleted) per second over the window. */
  recordsPerSecond: number | null
  /** eventsPerSecond over the limit's eventsPerSecond. */
  fractionOfLimit: number | null
  /** Frames per CPU-second of the server processes over the window. */
  eventsPerCpuSecond: number | null
  /** The largest VmHWM of the mode's server processes. */
  peakRssMb: number | null
  /** Client-side p99 over the window, per endpoint name. */
  apiP99Ms: Record<string, number | null>
  /** max only, when it went on to the end of the workload. */
  wholeRunEventsPerSecond: number | null
  /** eventsPerSecond over the peer's. */
  peerRatio: number | null
  /** max-verified only: its eventsPerSecond over max's (the lean decoder) in the same run; null when max did not run. */
  fractionOfLean?: number | null
}

/** The limit: the rate of doing `d` decodes and `w` writes per second one after the other, never overlapping. */
export function limitRate(decodePerSecond: number, writePerSecond: number): number {
  if (!(decodePerSecond > 0) || !(writePerSecond > 0)) throw new Error(`limitRate: both rates must be positive, got d=${decodePerSecond} w=${writePerSecond}`)
  return 1 / (1 / decodePerSecond + 1 / writePerSecond)
}

const ratio = (a: number | null | undefined, b: number | null | undefined, digits = 3): number | null =>
  a === null || a === undefined || !b ? null : Math.round((a / b) * 10 ** digits) / 10 ** digits

export function modeFigures(r: ModeResult, limit: Pick<LimitResult, 'eventsPerSecond'> | null, peer: PeerFigures | null): ModeFigures {
  const idle = r.mode === 'idle'
  const eventsPerSecond = idle ? null : r.window.eventsPerSecond
  return {
    instances: r.instances ?? 1,
    eventsPerSecond,
    recordsPerSecond: idle ? null : (r.window.recordsPerSecond ?? null),
    fractionOfLimit: ratio(eventsPerSecond, limit?.eventsPerSecond),
    eventsPerCpuSecond: r.window.eventsPerCpuSecond,
    peakRssMb: r.memory.vmHwmMb,
    apiP99Ms: Object.fromEntries(r.api.map((e) => [e.name, e.p99Ms])),
    wholeRunEventsPerSecond: r.wholeRun?.eventsPerSecond ?? null,
    peerRatio: ratio(eventsPerSecond, peer?.eventsPerSecond, 1),
  }
}

/** The verified decoder's events/s over the lean one's, both at the max profile in the same run. */
export function fractionOfLean(verified: ModeFigures, lean: ModeFigures | undefined): number | null {
  return ratio(verified.eventsPerSecond, lean?.eventsPerSecond)
}

/** Two instances on one database against one, in the same run: "not slower together" is a ratio ≥ 1. */
export type InstancesComparison = { oneEventsPerSecond: number; twoEventsPerSecond: number; ratio: number }

export function compareInstances(one: ModeFigures | undefined, two: ModeFigures | undefined): InstancesComparison | null {
  if (!one?.eventsPerSecond || two?.eventsPerSecond === null || two?.eventsPerSecond === undefined) return null
  return { oneEventsPerSecond: one.eventsPerSecond, twoEventsPerSecond: two.eventsPerSecond, ratio: ratio(two.eventsPerSecond, one.eventsPerSecond)! }
}
