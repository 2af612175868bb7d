// The seam between whoever makes requests to other hosts (safe-fetch.ts) and whoever keeps them polite
// (host-limiter.ts): a request takes a permit for its host before it connects and gives it back, with what the host
// answered, once its body is read or it failed. Permits are per host (name and port, as URL.host has it: two
// servers on one machine are two hosts), so every request to one PDS, DID host or PLC directory shares one
// budget, whichever part of skyfill makes it.

/** What a finished request tells the limiter: rate-limit headers and 429s park the host. */
export type RequestOutcome = {
  /** HTTP status, or null when no response came (connection refused, timeout, stalled body). */
  status: number | null
  /** Response headers (lower-case names), when a response came. */
  headers: Readonly<Record<string, string>> | null
}

export interface HostPermit {
  /** Exactly once per permit. */
  release(outcome: RequestOutcome): void
}

export interface HostLimiter {
  /** Waits until `host` may take one more request (concurrency, rate, parking); rejects when `signal` aborts. */
  acquire(host: string, signal?: AbortSignal): Promise<HostPermit>
}
