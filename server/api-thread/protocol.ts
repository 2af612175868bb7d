// The messages between the main thread, which runs the services, and the API thread, which serves HTTP.
import type { ApiServices } from '../api/services.js'
import type { IndexedTable } from '../api/stats.js'
import type { AuditProgress } from '../audit/audit-run.js'

/** What the API thread may ask of the services: ApiServices' methods, by name (`backfill.getProgress`), and nothing
 *  else. Derived from ApiServices, so a method added there must be answered in service-host.ts before it compiles. */
export type ServiceCall = { [S in keyof ApiServices]: `${S}.${keyof NonNullable<ApiServices[S]> & string}` }[keyof ApiServices]

/** What the API thread is started with: everything it needs from the Config, which it does not parse again. */
export type ApiThreadData = {
  databaseUrl: string
  host: string
  port: number
  poolSize: number
  adminToken: string | null
  firehoseEnabled: boolean
  indexedTables: IndexedTable[]
}

/** From the API thread. */
export type ThreadMessage =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; code: string | null; message: string }
  | { type: 'call'; id: number; call: ServiceCall; args: unknown[] }

/** From the main thread. `auditRunning` is set when the call failed because an audit is running (AuditBusy). */
export type HostMessage =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string; auditRunning: AuditProgress | null }
  | { type: 'stop' }
