// One instance's share of a host's limits when several instances fetch from it (issue 13, the cheaper variant in
// host-limiter.ts's header): the rate is divided evenly, and the permits in flight are dealt out by rank, so the
// live instances together hold the configured limits. Pure, so the division is tested with numbers.
//
// An instance never gets fewer than one permit: one that could make no request to a host would hold the repository
// jobs it claimed for that host and the identity look-ups of its own firehose work hostage. So with fewer permits
// than live instances, each has one and the sum in flight is the number of instances; the rate still holds.
import type { HostLimits } from '../config/host-limits.js'

/** `rank` is this instance's place (0-based) among `live` instances, ordered the same way by every instance. */
export function shareOf(limits: HostLimits, rank: number, live: number): HostLimits {
  if (!Number.isInteger(live) || live < 1) throw new Error(`shareOf: live instances must be an integer ≥ 1, got ${live}`)
  if (!Number.isInteger(rank) || rank < 0 || rank >= live) throw new Error(`shareOf: rank must be an integer from 0 to ${live - 1}, got ${rank}`)
  const base = Math.floor(limits.concurrency / live)
  const extra = rank < limits.concurrency % live ? 1 : 0
  return { concurrency: Math.max(1, base + extra), ratePerSecond: limits.ratePerSecond / live }
}
