// The API thread's side: ApiServices whose every method is a call to the main thread, answered by service-host.ts.
// An AuditBusy there is an AuditBusy here, so the routes tell it apart as they do in one thread.
import type { MessagePort } from 'node:worker_threads'
import type { ApiServices } from '../api/services.js'
import { AuditBusy } from '../audit/audit-busy.js'
import type { HostMessage, ServiceCall, ThreadMessage } from './protocol.js'

export type ServiceProxy = ApiServices & {
  /** Fails every call still waiting for its answer (the server is stopping); later calls fail at once. */
  close(reason: string): void
}

export function serviceProxy(port: MessagePort, firehoseEnabled: boolean): ServiceProxy {
  const waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>()
  let nextId = 1
  let closed: string | null = null
  port.on('message', (message: HostMessage) => {
    if (message.type !== 'reply') return
    const call = waiting.get(message.id)
    if (!call) return
    waiting.delete(message.id)
    if (message.ok) call.resolve(message.value)
    else call.reject(message.auditRunning ? new AuditBusy(message.auditRunning) : new Error(message.message))
  })
  const call = <T>(name: ServiceCall, ...args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (closed) return reject(new Error(closed))
      const id = nextId++
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject })
      port.postMessage({ type: 'call', id, call: name, args } satisfies ThreadMessage)
    })
  return {
    backfill: { getProgress: () => call('backfill.getProgress'), pause: () => call('backfill.pause'), resume: () => call('backfill.resume') },
    firehose: firehoseEnabled ? { getStatus: () => call('firehose.getStatus') } : null,
    audit: { launch: (request) => call('audit.launch', request), status: () => call('audit.status'), counters: () => call('audit.counters') },
    system: { sample: () => call('system.sample') },
    rates: { points: () => call('rates.points') },
    close(reason) {
      closed = reason
      for (const { reject } of waiting.values()) reject(new Error(reason))
      waiting.clear()
    },
  }
}
