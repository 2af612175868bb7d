// The shapes the server sends, taken from the server's own types (type-only: nothing of the server is bundled).
export type { LivePayload, HistoryPoint, FirehoseStatus } from '../../server/api/live.js'
export type { BackfillProgress, BackfillState } from '../../server/services/backfill.js'
export type { SystemSample } from '../../server/services/system-metrics.js'
export type { LogLine } from '../../server/services/log.js'
