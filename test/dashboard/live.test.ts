// /api/live over plain HTTP: the event format from a real server, the shared tick, the client cap and cleanup,
// heartbeats; and `/` with and without a dashboard build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Skyfill } from '../../server/main.js'
import type { LivePayload } from '../../server/api/live.js'
import { startServer, type BackfillRun } from '../support/backfill.js'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { startFakeServer, type FakeServer } from './fixtures.js'
import { openSse } from './sse.js'

const until = async (check: () => boolean, timeoutMs = 3000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('GET /api/live on a real server (backfill off, firehose off)', () => {
  let run: BackfillRun
  let skyfill: Skyfill

  beforeAll(async () => {
    await ensureClientBuilt({ log: () => {} })
    run = await startServer()
    skyfill = run.sky
  })

  afterAll(async () => {
    await run?.close()
  })

  it('sends `event: progress` with the JSON snapshot within 1.5 s, then one a second', async () => {
    const started = Date.now()
    const stream = await openSse(`${skyfill.url}/api/live`)
    try {
      expect(stream.status).toBe(200)
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/)
      expect(stream.headers.get('cache-control')).toContain('no-cache')
      const first = await stream.next((m) => m.event === 'progress', 1500)
      expect(Date.now() - started).toBeLessThan(1500)
      const payload = JSON.parse(first.data!) as LivePayload
      expect(payload.backfill.state).toBe('off')
      expect(payload.backfill.counts).toMatchObject({ received: 0, processed: 0, skipped: 0, invalid: 0 })
      expect(typeof payload.system.cpuPercent).toBe('number')
      expect(typeof payload.system.loopDelayP99Ms).toBe('number')
      expect(payload.firehose).toMatchObject({ state: 'off' })
      expect(Date.parse(payload.at)).toBeGreaterThan(started - 1000)
      // The history event comes first, on connect.
      expect(stream.received[0]).toMatchObject({ event: 'history' })
      const second = await stream.next((m) => m.event === 'progress', 2500)
      expect((JSON.parse(second.data!) as LivePayload).at).not.toBe(payload.at)
    } finally {
      stream.close()
    }
  })

  it('serves the built dashboard at / under a strict CSP, with its assets', async () => {
    const res = await fetch(`${skyfill.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    const html = await res.text()
    expect(html).toContain('data-field="state"')
    // No inline scripts or styles: every <script> has a src, no style attributes or <style> blocks.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/\sstyle=/)
    expect(html).not.toMatch(/<style/)
    const assets = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => m[1]!)
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true)
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true)
    for (const asset of assets) {
      const r = await fetch(`${skyfill.url}/${asset}`)
      expect(r.status, asset).toBe(200)
      expect(r.headers.get('cache-control')).toContain('immutable')
    }
  })
})

describe('the live hub', () => {
  let fake: FakeServer
  let sourceCalls = 0

  beforeAll(async () => {
    fake = await startFakeServer({ live: { intervalMs: 100, heartbeatMs: 150, maxClients: 3 } })
    // Count snapshot builds by wrapping the fixture's getter.
    let progress = fake.progress
    Object.defineProperty(fake, 'progress', {
      get: () => {
        sourceCalls++
        return progress
      },
      set: (v) => {
        progress = v
      },
    })
  })

  afterAll(async () => {
    await fake?.stop()
  })

  it('builds one snapshot per tick however many clients listen', async () => {
    const streams = await Promise.all([1, 2, 3].map(() => openSse(`${fake.url}/api/live`)))
    try {
      await until(() => fake.hub.clientCount === 3)
      sourceCalls = 0
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const calls = sourceCalls
      // ~10 ticks in a second at 100 ms (fewer on a loaded machine); per-client snapshots would be ~30.
      expect(calls).toBeGreaterThanOrEqual(3)
      expect(calls).toBeLessThanOrEqual(13)
      for (const s of streams) expect(s.received.filter((m) => m.event === 'progress').length).toBeGreaterThanOrEqual(3)
    } finally {
      for (const s of streams) s.close()
    }
    await until(() => fake.hub.clientCount === 0)
  })

  it('sends heartbeat comments', async () => {
    const stream = await openSse(`${fake.url}/api/live`)
    try {
      const beat = await stream.next((m) => m.comment !== undefined, 2000)
      expect(beat.comment).toBe('keep-alive')
    } finally {
      stream.close()
    }
  })

  it('caps concurrent clients (503 + Retry-After) and frees a slot when one disconnects', async () => {
    await until(() => fake.hub.clientCount === 0)
    const streams = await Promise.all([1, 2, 3].map(() => openSse(`${fake.url}/api/live`)))
    try {
      await until(() => fake.hub.clientCount === 3)
      const refused = await fetch(`${fake.url}/api/live`)
      expect(refused.status).toBe(503)
      expect(refused.headers.get('retry-after')).toBe('10')
      expect(((await refused.json()) as { message: string }).message).toMatch(/too many/)

      streams[0]!.close()
      await until(() => fake.hub.clientCount === 2)
      const again = await openSse(`${fake.url}/api/live`)
      expect(again.status).toBe(200)
      await again.next((m) => m.event === 'progress', 1000)
      again.close()
    } finally {
      for (const s of streams) s.close()
    }
    // Disconnected clients are cleaned up and the tick stops with the last one.
    await until(() => fake.hub.clientCount === 0)
    sourceCalls = 0
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(sourceCalls).toBe(0)
  })
})

describe('/ without a build', () => {
  it('says the dashboard is not built and how to build it', async () => {
    const fake = await startFakeServer({ distDir: '/nonexistent/skyfill-dist' })
    try {
      const res = await fetch(`${fake.url}/`)
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
      const text = await res.text()
      expect(text).toContain('has not been built')
      expect(text).toContain('npm run build:client')
      // The API still works.
      expect((await fetch(`${fake.url}/api/stats`)).status).toBe(200)
    } finally {
      await fake.stop()
    }
  })
})
