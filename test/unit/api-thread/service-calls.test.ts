// The API thread's calls to the services, over a MessageChannel as between the two threads: values and errors come
// back as they left, an AuditBusy stays one (the route's 409), and nothing outside the list of calls is answered.
import { MessageChannel } from 'node:worker_threads'
import { afterEach, describe, expect, it } from 'vitest'
import type { ApiServices } from '../../../server/api/services.js'
import { answerCalls } from '../../../server/api-thread/service-host.js'
import { serviceProxy, type ServiceProxy } from '../../../server/api-thread/service-proxy.js'
import type { AuditProgress } from '../../../server/audit/audit-run.js'
import { AuditBusy } from '../../../server/audit/audit-busy.js'

const running = { startedAt: '2026-12-01T00:00:00.000Z', phase: 'fetching', reposDone: 3 } as unknown as AuditProgress

function services(calls: string[]): ApiServices {
  return {
    backfill: {
      getProgress: () => ({ state: 'running', counts: { processed: 42 } }) as never,
      pause: () => void calls.push('pause'),
      resume: async () => void calls.push('resume'),
    },
    firehose: null,
    audit: {
      launch: () => {
        throw new AuditBusy(running)
      },
      status: async () => {
        throw new Error('the audit database is gone')
      },
      counters: () => ({ reposChecked: 1, reposDiffering: 0, differences: { missing: 0, extra: 0, stale: 0, handle: 0, status: 0 }, driftRatio: 0 }),
    },
    system: { sample: () => ({ cpuPercent: 1, loopDelayP50Ms: 0, loopDelayP99Ms: 0, loopDelayMaxMs: 0, rssMb: 100, heapUsedMb: 50, at: 7 }) },
    rates: { points: () => [{ at: 1, backfill: 2, firehose: 3 }] as never },
  }
}

let channel: MessageChannel
let proxy: ServiceProxy
let calls: string[]

function connect(firehoseEnabled = false) {
  channel = new MessageChannel()
  calls = []
  answerCalls(channel.port1, services(calls))
  proxy = serviceProxy(channel.port2, firehoseEnabled)
}

afterEach(() => {
  channel.port1.close()
  channel.port2.close()
})

describe('service calls between the threads', () => {
  it("answers with the services' values, and runs their actions on the services' side", async () => {
    connect()
    expect(await proxy.backfill.getProgress()).toEqual({ state: 'running', counts: { processed: 42 } })
    expect((await proxy.system.sample()).rssMb).toBe(100)
    expect(await proxy.rates.points()).toEqual([{ at: 1, backfill: 2, firehose: 3 }])
    expect((await proxy.audit.counters()).reposChecked).toBe(1)
    await proxy.backfill.pause()
    await proxy.backfill.resume()
    expect(calls).toEqual(['pause', 'resume'])
    expect(proxy.firehose).toBeNull()
  })

  it('passes an AuditBusy on as an AuditBusy with what is running, and any other error as its message', async () => {
    connect()
    const busy = await Promise.resolve(proxy.audit.launch({ selection: { mode: 'sample', sample: 1 }, fix: false })).catch((err: unknown) => err)
    expect(busy).toBeInstanceOf(AuditBusy)
    expect((busy as AuditBusy).running).toEqual(running)
    expect((busy as AuditBusy).message).toBe(new AuditBusy(running).message)
    await expect(proxy.audit.status()).rejects.toThrow(/^the audit database is gone$/)
  })

  it('asks for the firehose only when it is on, and answers "off" if the services have none', async () => {
    connect(true)
    expect(await proxy.firehose!.getStatus()).toMatchObject({ state: 'off' })
  })

  it('refuses a call that is not on the list', async () => {
    connect()
    const reply = new Promise((resolve) => channel.port2.once('message', resolve))
    channel.port2.postMessage({ type: 'call', id: 999, call: 'constructor', args: [] })
    expect(await reply).toEqual({
      type: 'reply',
      id: 999,
      ok: false,
      message: 'the API thread asked for "constructor", which is not a service call',
      auditRunning: null,
    })
  })

  it('fails the calls still waiting once closed, and every later one at once', async () => {
    connect()
    // Nobody answers on this side any more: the call waits until the proxy is closed.
    channel.port1.removeAllListeners('message')
    const waiting = proxy.backfill.getProgress()
    proxy.close('the server is stopping')
    await expect(waiting).rejects.toThrow('the server is stopping')
    await expect(proxy.system.sample()).rejects.toThrow('the server is stopping')
  })
})
