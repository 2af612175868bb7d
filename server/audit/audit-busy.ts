// Refusing a second audit while one runs. Its own module: the API thread tells it apart without loading the audit.
import type { AuditProgress } from './audit-run.js'

export class AuditBusy extends Error {
  override readonly name = 'AuditBusy'
  constructor(readonly running: AuditProgress) {
    super(`an audit is already running (started ${running.startedAt}, ${running.phase}, ${running.reposDone} repositories done)`)
  }
}
