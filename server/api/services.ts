// What the HTTP API reads from the running services and asks of them. The routes take these shapes, not the service
// classes: under `npm start` they are answered from another thread (server/api-thread/), where every call is a
// message, so each may return its value or a promise of it. The services themselves fit them as they are.
import type { AuditRequest } from '../audit/audit-run.js'
import type { BackfillProgress } from '../services/backfill.js'
import type { AuditCounters, AuditStatus } from '../services/audit.js'
import type { FirehoseStatus } from '../services/firehose-status.js'
import type { RatePoint } from '../services/rate-history.js'
import type { SystemSample } from '../services/system-metrics.js'

export type Awaitable<T> = T | Promise<T>

export type ApiServices = {
  backfill: { getProgress(): Awaitable<BackfillProgress>; pause(): Awaitable<void>; resume(): Awaitable<void> }
  /** Null when the live firehose is off (FIREHOSE_ENABLED). */
  firehose: { getStatus(): Awaitable<FirehoseStatus> } | null
  /** launch() throws (or rejects with) AuditBusy while an audit runs; it does not wait for the audit to end. */
  audit: { launch(request: AuditRequest): Awaitable<void>; status(): Awaitable<AuditStatus>; counters(): Awaitable<AuditCounters> }
  system: { sample(): Awaitable<SystemSample> }
  rates: { points(): Awaitable<RatePoint[]> }
}
