// POST /api/audit and GET /api/audit: behind the admin token (403 when none is configured, 401 without the right
// one), a body checked like the CLI's flags, one audit at a time (409 while one runs), and the report once it ends.
import type { Server } from 'node:http'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRoutes } from '../../server/api/audit.js'
import { jsonBody } from '../../server/api/security.js'
import { createPool } from '../../server/db/pools.js'
import { RepoUnavailable } from '../../server/repos/repo-fetcher.js'
import { AuditService } from '../../server/services/audit.js'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { until } from '../support/backfill.js'

const TOKEN = 'audit-test-token-0123456789'
const DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
const AUTH = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }

let db: TestDatabase
let pool: ReturnType<typeof createPool>
let audit: AuditService
let servers: Server[] = []
let release: () => void = () => {}
let fetchesStarted = 0

async function listen(app: express.Express): Promise<string> {
  const port = await freePort()
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s))
  })
  servers.push(server)
  return `http://127.0.0.1:${port}`
}

let url: string
let closedUrl: string

/** A real audit service on the test database; its PDS is `fetch`, its identities verified as alice.test. */
function auditService(fetch: (did: string) => Promise<never>, samplePerHour = 0): AuditService {
  return new AuditService({
    db: pool,
    fetch,
    identity: async () => ({ handle: 'alice.test', retryable: false }),
    resync: async () => {},
    reverify: async () => {},
    examplesPerKind: 5,
    concurrency: 1,
    samplePerHour,
    log: () => {},
  })
}

beforeAll(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'audit', 2)
  await pool.query(`INSERT INTO actors (did, handle, status) VALUES ($1, 'alice.test', 'active')`, [DID])
  // The PDS takes the account down, and answers only when the test lets it.
  audit = auditService(async () => {
    fetchesStarted++
    await new Promise<void>((resolve) => (release = resolve))
    throw new RepoUnavailable('takendown', 'pds.example answered 400 RepoTakendown')
  })
  url = await listen(express().use(jsonBody()).use(auditRoutes(audit, TOKEN)))
  closedUrl = await listen(express().use(jsonBody()).use(auditRoutes(audit, null)))
})

afterAll(async () => {
  release()
  await audit?.stop()
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  await pool?.end()
  await db?.drop()
})

const post = (base: string, body: unknown, headers: Record<string, string> = AUTH) =>
  fetch(`${base}/api/audit`, { method: 'POST', headers, body: JSON.stringify(body) })

describe('the audit API', () => {
  it('is disabled (403) when the server has no ADMIN_TOKEN, for reading and for starting', async () => {
    expect((await fetch(`${closedUrl}/api/audit`, { headers: AUTH })).status).toBe(403)
    expect((await post(closedUrl, { all: true })).status).toBe(403)
  })

  it('answers 401 without the admin token, or with another', async () => {
    expect((await fetch(`${url}/api/audit`)).status).toBe(401)
    expect((await post(url, { all: true }, { 'Content-Type': 'application/json' })).status).toBe(401)
    expect((await post(url, { all: true }, { Authorization: 'Bearer not-the-token-at-all', 'Content-Type': 'application/json' })).status).toBe(401)
    expect(fetchesStarted).toBe(0)
  })

  it('refuses a body that chooses no repositories, or two ways at once, saying why', async () => {
    const none = await post(url, { fix: true })
    expect(none.status).toBe(400)
    expect((await none.json()).message).toBe('choose the repositories with exactly one of sample, repos or all')
    const two = await post(url, { sample: 3, all: true })
    expect((await two.json()).message).toBe('choose the repositories with exactly one of sample, repos or all, not sample and all')
    expect((await post(url, { repos: ['bob.test'] })).status).toBe(400)
  })

  it('runs one audit at a time: 202, its progress while it runs, 409 for a second, then the report', async () => {
    const started = await post(url, { repos: [DID] })
    expect(started.status).toBe(202)
    await until(() => fetchesStarted === 1, 10_000, 'the audit to fetch the repository')
    const running = await (await fetch(`${url}/api/audit`, { headers: AUTH })).json()
    expect(running.running).toMatchObject({ phase: 'auditing', reposDone: 0, reposTotal: 1, selection: { mode: 'repos', repos: [DID] } })
    expect(running.last).toBeNull()

    const second = await post(url, { sample: 5 })
    expect(second.status).toBe(409)
    expect((await second.json()).running).toMatchObject({ phase: 'auditing' })

    release()
    await until(async () => (await (await fetch(`${url}/api/audit`, { headers: AUTH })).json()).last !== null, 10_000, 'the report')
    const done = await (await fetch(`${url}/api/audit`, { headers: AUTH })).json()
    expect(done.running).toBeNull()
    expect(done.last.totals).toMatchObject({ reposChosen: 1, reposUnavailable: 1, reposDiffering: 1, differences: { status: 1, handle: 0, missing: 0 } })
    expect(done.last.repos[0].examples.status).toEqual({ kind: 'status', stored: 'active', remote: 'takendown' })
    expect(done.drift.total).toEqual({ checked: 1, differing: 1, ratio: 1 })
  })

  it('counts what the audits found, for /metrics', () => {
    expect(audit.counters()).toEqual({
      reposChecked: 1,
      reposDiffering: 1,
      differences: { missing: 0, extra: 0, stale: 0, handle: 0, status: 1 },
      driftRatio: 1,
    })
  })

  it('audits AUDIT_SAMPLE_PER_HOUR random repositories an hour in the background, into the drift rate, not the report', async () => {
    const audited: string[] = []
    // one every 100 ms
    const background = auditService(async (did) => {
      audited.push(did)
      throw new RepoUnavailable('deactivated', 'pds.example answered 400 RepoDeactivated')
    }, 36_000)
    background.start()
    try {
      await until(() => audited.length >= 3, 10_000, 'three background audits')
    } finally {
      await background.stop()
    }
    expect(new Set(audited)).toEqual(new Set([DID]))
    // One audit may have been cut short by stop(): it is not counted.
    const counted = background.counters()
    expect(counted.reposChecked).toBeGreaterThanOrEqual(3)
    expect(counted).toMatchObject({ reposDiffering: counted.reposChecked, differences: { status: counted.reposChecked, missing: 0 }, driftRatio: 1 })
    expect(background.status()).toMatchObject({ last: null, running: null, background: { samplePerHour: 36_000 } })
  })
})
