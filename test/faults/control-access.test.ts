// Access (issue 15 item 5): the repository work added no control endpoint, so what must hold is that every route
// that changes something takes ADMIN_TOKEN, found by walking the app's own router rather than from a list that could
// lag behind it, and that what anyone may read (the backfill's progress with its repositories, hosts and failures,
// the live firehose's status and holder, metrics, stats, the live stream) shows no database password and no token.
import pg from 'pg'
import type { Router } from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../server/api/app.js'
import { RateHistory, serviceRates } from '../../server/services/rate-history.js'
import { SystemMetrics } from '../../server/services/system-metrics.js'
import { testDatabase } from '../harness/db.js'
import { withDatabase, type TestDatabase } from '../harness/postgres.js'
import { startBackfill, until, type BackfillRun } from '../support/backfill.js'
import { startHostilePds, type HostilePds } from '../support/hostile-pds.js'

const ADMIN_TOKEN = `admin-${Math.random().toString(36).slice(2)}-token`
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-secret`
const ROLE = `access_${Math.random().toString(36).slice(2, 10)}`

type Layer = { route?: { path: string | string[]; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } }

/** Every route of a router and the routers mounted in it, as METHOD path. */
function routesOf(stack: Layer[]): { method: string; path: string }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path]
      return Object.keys(layer.route.methods).flatMap((m) => paths.map((path) => ({ method: m.toUpperCase(), path })))
    }
    return layer.handle?.stack ? routesOf(layer.handle.stack) : []
  })
}

let admin: pg.Client
let db: TestDatabase
let pds: HostilePds
let run: BackfillRun
let secretUrl: string

beforeAll(async () => {
  db = await testDatabase()
  const url = new URL(db.url)
  // A role whose password appears nowhere else, so finding it in an answer can only mean a leak.
  admin = new pg.Client({ connectionString: withDatabase(db.url, 'postgres') })
  await admin.connect()
  await admin.query(`CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD '${PASSWORD}'`)
  url.username = ROLE
  url.password = PASSWORD
  secretUrl = url.toString()
  // Something in every part of the progress view: a done repository, a failed one with its reason and URL, hosts.
  pds = await startHostilePds({ alice: { records: 3 }, looping: { records: 2, fault: { kind: 'redirect-loop' } } })
  run = await startBackfill(
    pds.url,
    {
      DATABASE_URL: secretUrl,
      ADMIN_TOKEN,
      BACKFILL_DAYS: 'all',
      PLC_URL: pds.url,
      ALLOW_PRIVATE_HOSTS: 'true',
      FIREHOSE_ENABLED: 'true',
    },
    db,
  )
  await run.sky.backfill.whenDone()
  await until(() => run.sky.backfill.getProgress().repos?.jobs.total === 2, 10_000, 'the repository counts')
}, 60_000)

afterAll(async () => {
  await run?.close()
  await pds?.close()
  await db?.drop()
  await admin?.query(`DROP ROLE IF EXISTS ${ROLE}`)
  await admin?.end()
})

describe('control endpoints and what anyone may read', () => {
  it('every route that is not a read takes the admin token: none without it, none with a wrong one', async () => {
    const app = createApp({
      apiPool: run.pool,
      services: {
        backfill: run.sky.backfill,
        firehose: run.sky.firehose,
        audit: run.sky.audit,
        system: new SystemMetrics(),
        rates: new RateHistory(serviceRates(run.sky.backfill, run.sky.firehose)),
      },
      adminToken: ADMIN_TOKEN,
      indexedTables: [],
    })
    const routes = routesOf((app.router as unknown as Router & { stack: Layer[] }).stack)
    expect(routes.some((r) => r.method === 'GET' && r.path === '/api/backfill')).toBe(true)
    // A route for every method (`_ALL`) is how a read refuses the others (XRPC: "expected GET"): it must change nothing.
    for (const { path } of routes.filter((r) => r.method === '_ALL')) {
      const res = await fetch(`${run.sky.url}${path}`, { method: 'POST' })
      expect({ path, status: res.status, body: await res.json() }).toEqual({
        path,
        status: 400,
        body: { error: 'InvalidRequest', message: 'Incorrect HTTP method (POST) expected GET' },
      })
    }
    const writes = routes.filter((r) => !['GET', 'HEAD', '_ALL'].includes(r.method))
    expect(writes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(['POST /api/audit', 'POST /api/backfill/pause', 'POST /api/backfill/resume'])
    // With the token, an audit asked for nothing in particular is refused for its body (400), not for who asks.
    const accepted: Record<string, number> = { '/api/audit': 400 }
    for (const { method, path } of writes) {
      for (const authorization of [undefined, 'Bearer not-the-admin-token', `Basic ${ADMIN_TOKEN}`, ADMIN_TOKEN]) {
        const res = await fetch(`${run.sky.url}${path}`, { method, headers: authorization ? { authorization } : {} })
        expect({ path, authorization, status: res.status }).toEqual({ path, authorization, status: 401 })
      }
      const res = await fetch(`${run.sky.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
      expect({ path, status: res.status }).toEqual({ path, status: accepted[path] ?? 200 })
    }
    // the last accepted call was resume: the backfill is not left paused by the operator
    expect(run.sky.backfill.getProgress().state).not.toBe('paused')
  })

  it('progress, firehose status, metrics, stats, health and the live stream show no password, token or database URL', async () => {
    const bodies: Record<string, string> = {}
    for (const path of ['/api/backfill', '/api/firehose', '/metrics', '/api/stats', '/health']) {
      const res = await fetch(`${run.sky.url}${path}`)
      expect({ path, status: res.status }).toEqual({ path, status: 200 })
      bodies[path] = await res.text()
    }
    const live = new AbortController()
    const stream = await fetch(`${run.sky.url}/api/live`, { signal: live.signal })
    const reader = stream.body!.getReader()
    let text = ''
    while (!/event: progress\ndata: .*\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
    live.abort()
    bodies['/api/live'] = text
    // the answers are about this run: its repositories and the relay are in them
    expect(bodies['/api/backfill']).toContain(`redirects back to ${new URL(pds.badPdsUrl).origin}`)
    expect(bodies['/api/backfill']).toContain(new URL(pds.pdsUrl).host)
    expect(JSON.parse(bodies['/api/firehose']!).holder).toEqual(run.sky.firehose!.getStatus().holder ?? 'a holder')
    for (const [path, body] of Object.entries(bodies)) {
      for (const secret of [PASSWORD, ADMIN_TOKEN, secretUrl, encodeURIComponent(PASSWORD)]) {
        expect({ path, leaks: body.includes(secret) }).toEqual({ path, leaks: false })
      }
    }
  })
})
