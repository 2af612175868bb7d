// The repository part on the dashboard: progress of the repositories, each host's state (a parked one with why),
// and the latest failures with their reasons; hidden for a replay-only run. Against the real /api/live and
// dashboard routes fed fixtures.
import { describe, expect, it } from 'vitest'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { progressFixture, fakeDashboardPerFile } from './fixtures.js'
import { openDashboard } from './page.js'

const dashboard = fakeDashboardPerFile()

const repos: NonNullable<BackfillProgress['repos']> = {
  jobs: { pending: 40, fetching: 2, done: 50, failed: 3, unavailable: 5, total: 100 },
  retrying: 2,
  listing: { done: true, sources: ['relay'], errors: [] },
  recordsWritten: 123456,
  recordsPerSecond: 2500,
  reposPerSecond: 1.5,
  etaSeconds: 30,
  percent: 55,
  hosts: [
    { host: 'pds-a.example.com', inFlight: 2, waiting: 1, parkedUntil: null, reason: null, requests: 120 },
    { host: 'pds-b.example.com', inFlight: 0, waiting: 3, parkedUntil: Date.now() + 60_000, reason: '429 Too Many Requests', requests: 40 },
  ],
  parkedHosts: 1,
  recentFailures: [
    { did: 'did:plc:failedaaaaaaaaaaaaaaaaaa', host: 'pds-b.example.com', reason: 'pds-b.example.com answered 500', attempts: 2, nextTryAt: new Date(Date.now() + 60_000) },
  ],
}

describe('the repositories card', () => {
  it('shows the repositories finished, each host with a parked one and why, and the latest failures', async () => {
    dashboard.fake().progress = progressFixture({ repos })
    const dash = await openDashboard(dashboard.fake().url, { browser: dashboard.browser() })
    try {
      await dash.page.waitForSelector('[data-field="repos-card"]:not([hidden])')
      expect(await dash.text('repos-summary')).toBe(
        '55 of 100 repositories finished: 50 fetched, 5 unavailable (taken down, deactivated or gone), 3 failed (2 to be retried).',
      )
      expect(await dash.text('repos-percent')).toBe('55.0%')
      expect(await dash.text('repos-records')).toBe('123,456')
      expect(await dash.text('repos-parked')).toBe('1')
      const hosts = await dash.page.$$eval('[data-field="repos-hosts"] tr', (rows) =>
        rows.map((r) => ({ cells: [...r.querySelectorAll('td')].map((td) => td.textContent), parked: r.classList.contains('parked') })),
      )
      expect(hosts[0]).toEqual({ cells: ['pds-a.example.com', '2', '1', '120', 'ok'], parked: false })
      expect(hosts[1]!.parked).toBe(true)
      expect(hosts[1]!.cells[4]).toMatch(/^parked until .*: 429 Too Many Requests$/)
      const failures = await dash.page.$$eval('[data-field="repos-failures"] li', (items) => items.map((i) => i.textContent))
      expect(failures).toEqual([expect.stringMatching(/^did:plc:failed\w+ pds-b\.example\.com: pds-b\.example\.com answered 500 \(2 attempts, next try /)])
    } finally {
      await dash.close()
    }
  })

  it('says how many known repositories are in sync, and warns of desynchronized ones', async () => {
    dashboard.fake().progress = progressFixture({ repos: null, sync: { active: 90, desynchronized: 2, resyncing: 1, error: 0, total: 93 } })
    const dash = await openDashboard(dashboard.fake().url, { browser: dashboard.browser() })
    try {
      await dash.page.waitForSelector('[data-field="repos-sync"]:not([hidden])')
      expect(await dash.text('repos-sync')).toBe(
        'Consistency of 93 known repositories: 90 in sync, 2 desynchronized (a gap was found), 1 being resynced, 0 in error.',
      )
      expect(await dash.page.$eval('[data-field="repos-sync"]', (e) => e.classList.contains('warn'))).toBe(true)
      expect(await dash.page.$eval('[data-field="repos-progress"]', (e) => (e as HTMLElement).hidden)).toBe(true)
    } finally {
      await dash.close()
    }
  })

  it('is hidden for a run that fetches no repositories', async () => {
    dashboard.fake().progress = progressFixture({ repos: null, sync: null })
    const dash = await openDashboard(dashboard.fake().url, { browser: dashboard.browser() })
    try {
      expect(await dash.page.$eval('[data-field="repos-card"]', (e) => (e as HTMLElement).hidden)).toBe(true)
    } finally {
      await dash.close()
    }
  })
})
