// The one formula for every retry wait in skyfill (source reconnects, database outages, locating the window,
// identity lookups, repo fetches): exponential from a base, capped, so that each caller only says how fast it
// starts and where it stops.
export type Backoff = { baseMs: number; maxMs: number }

/** The wait before retry number `attempt` (0 for the first retry). */
export function backoffMs(attempt: number, { baseMs, maxMs }: Backoff): number {
  // The exponent is capped so 2 ** n stays finite however long an outage lasts.
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30))
}
