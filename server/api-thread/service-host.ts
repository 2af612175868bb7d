// The main thread's side of the API thread's calls: each names one method of the running services, answered with
// its value or its error. Any other name is refused, so the thread can reach only what ApiServices lists.
import type { MessagePort, Worker } from 'node:worker_threads'
import type { AuditRequest } from '../audit/audit-run.js'
import type { ApiServices } from '../api/services.js'
import { AuditBusy } from '../audit/audit-busy.js'
import { FIREHOSE_OFF } from '../services/firehose-status.js'
import type { HostMessage, ServiceCall, ThreadMessage } from './protocol.js'

/** `thread`: the API thread's Worker (or, in tests, one end of a MessageChannel). */
export function answerCalls(thread: Worker | MessagePort, services: ApiServices): void {
  const methods: Record<ServiceCall, (args: unknown[]) => unknown> = {
    'backfill.getProgress': () => services.backfill.getProgress(),
    'backfill.pause': () => services.backfill.pause(),
    'backfill.resume': () => services.backfill.resume(),
    'firehose.getStatus': () => services.firehose?.getStatus() ?? FIREHOSE_OFF,
    'audit.launch': ([request]) => services.audit.launch(request as AuditRequest),
    'audit.status': () => services.audit.status(),
    'audit.counters': () => services.audit.counters(),
    'system.sample': () => services.system.sample(),
    'rates.points': () => services.rates.points(),
  }
  const reply = (message: HostMessage) => thread.postMessage(message)
  thread.on('message', (message: ThreadMessage) => {
    if (message.type !== 'call') return
    const { id, call, args } = message
    const method = Object.hasOwn(methods, call) ? methods[call] : null
    new Promise((resolve) => {
      if (!method) throw new Error(`the API thread asked for ${JSON.stringify(call)}, which is not a service call`)
      resolve(method(args))
    }).then(
      (value) => reply({ type: 'reply', id, ok: true, value }),
      (err: unknown) =>
        reply({
          type: 'reply',
          id,
          ok: false,
          message: err instanceof Error ? err.message : String(err),
          auditRunning: err instanceof AuditBusy ? err.running : null,
        }),
    )
  })
}
