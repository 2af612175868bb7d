// Security headers, body limits, unknown methods, and errors that never leak a stack trace.
import type { Server } from 'node:http'
import express from 'express'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorHandler, jsonBody, securityHeaders } from '../../server/api/security.js'
import { xrpcRoutes } from '../../server/api/xrpc/index.js'
import { createPool } from '../../server/db/pools.js'
import { freePort } from '../harness/postgres.js'
import { ALICE, getJson, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

/** A bare app with the security pieces around `routes`, on a free port. */
async function miniApp(mount: (app: express.Express) => void): Promise<{ url: string; logs: string[]; close(): Promise<void> }> {
  const logs: string[] = []
  const app = express()
  app.use(securityHeaders())
  app.use(jsonBody())
  mount(app)
  app.use(errorHandler((line) => logs.push(line)))
  const port = await freePort()
  const listening: Server = await new Promise((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: () => new Promise((resolve) => listening.close(() => resolve())),
  }
}

const EXPECTED_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
}

describe('security headers', () => {
  it.each(['/health', '/api/stats', `/xrpc/app.bsky.actor.getProfile?actor=${ALICE}`, '/xrpc/app.bsky.nothing.here', '/metrics'])(
    'are on the response to %s',
    async (path) => {
      const { headers } = await getJson(server.url, path)
      for (const [name, value] of Object.entries(EXPECTED_HEADERS)) expect(headers.get(name)).toBe(value)
      const csp = headers.get('content-security-policy') ?? ''
      expect(csp).toContain("default-src 'self'")
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).not.toContain('unsafe-inline')
      expect(headers.get('x-powered-by')).toBeNull()
    },
  )

  it('let any origin read XRPC responses and get its preflight answered', async () => {
    const res = await fetch(`${server.url}/xrpc/app.bsky.actor.getProfile?actor=${ALICE}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://client.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'atproto-accept-labelers' },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('access-control-allow-headers')).toBe('atproto-accept-labelers')
  })
})

describe('unknown and misused methods', () => {
  it('answers an unknown XRPC method with 501 MethodNotImplemented as JSON', async () => {
    const { status, body } = await getJson(server.url, '/xrpc/app.bsky.feed.getTimeline')
    expect(status).toBe(501)
    expect(body).toEqual({ error: 'MethodNotImplemented', message: 'Method Not Implemented: "app.bsky.feed.getTimeline"' })
  })

  it('answers POST to a query method with 400 InvalidRequest', async () => {
    const { status, body } = await getJson(server.url, `/xrpc/app.bsky.actor.getProfile?actor=${ALICE}`, { method: 'POST' })
    expect(status).toBe(400)
    expect(body).toEqual({ error: 'InvalidRequest', message: 'Incorrect HTTP method (POST) expected GET' })
  })
})

describe('request bodies', () => {
  it('refuses a JSON body over 16 kB with 413', async () => {
    const { status, body } = await getJson(server.url, '/api/backfill/pause', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(17 * 1024) }),
    })
    expect(status).toBe(413)
    expect(body.error).toBe('PayloadTooLarge')
  })

  it('answers malformed JSON with 400 and no parser detail', async () => {
    const { status, body } = await getJson(server.url, '/api/backfill/pause', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"oops":',
    })
    expect(status).toBe(400)
    expect(body).toEqual({ error: 'InvalidRequest', message: 'request body is not valid JSON' })
  })
})

describe('errors', () => {
  it('answers 503 DatabaseUnavailable when the API pool cannot reach Postgres', async () => {
    const deadPool = createPool(`postgres://skyfill@127.0.0.1:${await freePort()}/nowhere`, 'api', 1)
    const app = await miniApp((a) => a.use(xrpcRoutes(deadPool)))
    try {
      const { status, body } = await getJson(app.url, `/xrpc/app.bsky.actor.getProfile?actor=${ALICE}`)
      expect(status).toBe(503)
      expect(body).toEqual({ error: 'DatabaseUnavailable', message: 'the database is not reachable; try again shortly' })
    } finally {
      await app.close()
      await deadPool.end()
    }
  })

  it('answers an unexpected error with a bare 500 and keeps the stack in the log', async () => {
    const app = await miniApp((a) =>
      a.get('/boom', () => {
        throw new Error('secret internals at /srv/skyfill/server.ts:42')
      }),
    )
    try {
      const res = await fetch(`${app.url}/boom`)
      const text = await res.text()
      expect(res.status).toBe(500)
      expect(JSON.parse(text)).toEqual({ error: 'InternalServerError', message: 'Internal Server Error' })
      expect(text).not.toContain('secret')
      expect(app.logs.join('\n')).toContain('secret internals')
    } finally {
      await app.close()
    }
  })

  it('answers a failing SQL statement without its text or the database message', async () => {
    const pool = new pg.Pool({ connectionString: server.db.url, max: 1 })
    const app = await miniApp((a) =>
      a.get('/bad-sql', async () => {
        await pool.query('SELECT * FROM no_such_table')
      }),
    )
    try {
      const { status, body } = await getJson(app.url, '/bad-sql')
      expect(status).toBe(500)
      expect(JSON.stringify(body)).not.toContain('no_such_table')
    } finally {
      await app.close()
      await pool.end()
    }
  })
})
