// How polite skyfill is to each host by default (BACKFILL_HOST_CONCURRENCY, BACKFILL_HOST_RATE): below Bluesky's
// published PDS limits (docs.bsky.app, "Rate Limits": 3000 requests per 5 minutes per IP for most endpoints, i.e.
// 10/s sustained). 5 requests/s and 2 in flight per host is half that budget, so an operator's own clients on the
// same IP keep room; getRepo responses are large, and 2 at once per host is plenty.
export type HostLimits = {
  /** requests in flight at once */
  concurrency: number
  /** sustained requests per second; bursts up to max(1, rate) */
  ratePerSecond: number
}

export const DEFAULT_HOST_LIMITS: HostLimits = { concurrency: 2, ratePerSecond: 5 }
