// What the operator is told while the relay cannot be reached: not "live", but retrying with the reason, for the
// live firehose and for a backfill that is locating its window; and a stop in that state is prompt.
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, until, type BackfillRun } from '../support/backfill.js'
import { freePort } from '../harness/postgres.js'

let run: BackfillRun
let relayUrl: string
let blackhole: net.Server

beforeAll(async () => {
  // A closed port: every connection attempt is refused at once.
  relayUrl = `ws://127.0.0.1:${await freePort()}`
  run = await startServer({ RELAY_URL: relayUrl, BACKFILL_DAYS: '1', FIREHOSE_ENABLED: 'true' })
})

afterAll(async () => {
  blackhole?.close()
})

describe('an unreachable relay', () => {
  it('the live firehose says retrying with the connection error, never live', async () => {
    const live = await startServer({ RELAY_URL: relayUrl, FIREHOSE_ENABLED: 'true' })
    try {
      await until(() => live.sky.firehose!.getStatus().state === 'retrying', 20_000, 'the firehose to be retrying')
      const body = await (await fetch(`${live.sky.url}/api/firehose`)).json()
      expect(body).toMatchObject({ state: 'retrying', error: expect.stringMatching(/ECONNREFUSED/) })
    } finally {
      await live.close()
    }
  })

  it('the live firehose waits for the backfill while it locates its window', async () => {
    const body = await (await fetch(`${run.sky.url}/api/firehose`)).json()
    expect(body).toMatchObject({ state: 'waiting' })
  })

  it('the backfill is locating, with the error it meets and its source retrying', async () => {
    await until(() => run.sky.backfill.getProgress().error !== null, 20_000, 'a locate error')
    const p = await (await fetch(`${run.sky.url}/api/backfill`)).json()
    expect(p.state).toBe('locating')
    expect(p.error).toMatch(/could not reach .*ECONNREFUSED/)
    expect(p.source).toMatchObject({ state: 'retrying', error: expect.stringMatching(/ECONNREFUSED/) })
  })

  it('stops within a few seconds, the firehose never subscribing after the stop', async () => {
    const started = Date.now()
    await run.close()
    expect(Date.now() - started).toBeLessThan(3000)
    expect(run.sky.firehose!.getStatus().state).toBe('stopped')
  })
})

describe('a relay that accepts connections and never answers the websocket handshake', () => {
  it('a backfill locating its window stops within a few seconds', async () => {
    blackhole = net.createServer(() => {}).listen(0, '127.0.0.1')
    await new Promise((r) => blackhole.once('listening', r))
    const port = (blackhole.address() as net.AddressInfo).port
    const hung = await startServer({ RELAY_URL: `ws://127.0.0.1:${port}`, BACKFILL_DAYS: '1', FIREHOSE_ENABLED: 'true' })
    await until(() => hung.lines.some((l) => l.includes('Locating the window')), 10_000, 'locating')
    const started = Date.now()
    await hung.close()
    expect(Date.now() - started).toBeLessThan(3000)
    expect(hung.lines.some((l) => l.includes('[FIREHOSE] Subscribing'))).toBe(false)
  })
})
