// The audit card: locked without the admin token; once unlocked, the last report's summary, the drift rates and the
// repositories that differ (as text: a hostile DID or error stays text), and a click starts an audit through the
// real POST /api/audit route, its body as the form says. Fed a fixture audit service.
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRoutes } from '../../server/api/audit.js'
import type { AuditRequest } from '../../server/audit/audit-run.js'
import { emptyDifferences, emptyTotals, type AuditReport } from '../../server/audit/report.js'
import type { AuditStatus } from '../../server/services/audit.js'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { XSS, startFakeServer, type FakeServer } from './fixtures.js'
import { launchBrowser, openDashboard } from './page.js'

const TOKEN = 'fixture-admin-token-0123456789'
const DIFFERING = 'did:plc:differingaaaaaaaaaaaaaaa'

const report: AuditReport = {
  startedAt: '2026-12-01T10:00:00.000Z',
  finishedAt: '2026-12-01T10:01:00.000Z',
  selection: { mode: 'sample', sample: 20 },
  fix: false,
  totals: { ...emptyTotals(), reposChosen: 20, reposChecked: 19, reposFailed: 1, reposDiffering: 1, recordsCompared: 4321, recordsMatching: 4318, differences: { ...emptyDifferences(), missing: 2, stale: 1 } },
  repos: [
    {
      did: DIFFERING,
      outcome: 'checked',
      host: 'pds.example',
      rev: '3laaaaaaaaaa2',
      fetchedAt: '2026-12-01T10:00:30.000Z',
      error: null,
      records: { compared: 100, matching: 97, unindexed: 0, refused: 0, changedAfterFetch: 0 },
      differences: { ...emptyDifferences(), missing: 2, stale: 1 },
      examples: { missing: [], extra: [], stale: [], handle: null, status: null },
    },
    {
      did: 'did:plc:failedaaaaaaaaaaaaaaaaaa',
      outcome: 'failed',
      host: null,
      rev: null,
      fetchedAt: '2026-12-01T10:00:31.000Z',
      error: `pds answered 500 ${XSS}`,
      records: { compared: 0, matching: 0, unindexed: 0, refused: 0, changedAfterFetch: 0 },
      differences: emptyDifferences(),
      examples: { missing: [], extra: [], stale: [], handle: null, status: null },
    },
  ],
  equalReposOmitted: 0,
  repair: null,
}

const status: AuditStatus = {
  running: null,
  last: report,
  lastError: null,
  drift: { last24h: { checked: 40, differing: 2, ratio: 0.05 }, total: { checked: 200, differing: 4, ratio: 0.02 } },
  background: { samplePerHour: 10 },
}

const begun: AuditRequest[] = []
let browser: Browser
let fake: FakeServer

beforeAll(async () => {
  await ensureClientBuilt({ log: () => {} })
  browser = await launchBrowser()
  const service = {
    status: () => status,
    launch: (request: AuditRequest) => {
      begun.push(request)
    },
  }
  fake = await startFakeServer({ routes: [auditRoutes(service, TOKEN)] })
})

afterAll(async () => {
  await fake?.stop()
  await browser?.close()
})

describe('the audit card', () => {
  it('asks for the admin token first, then shows the last report, the drift and what differs, as text', async () => {
    const dash = await openDashboard(fake.url, { browser })
    try {
      expect(await dash.page.locator('[data-field="audit-form"]').isHidden()).toBe(true)
      expect(await dash.page.locator('[data-field="audit-locked"]').isVisible()).toBe(true)
      await dash.unlock(TOKEN)
      await dash.page.waitForFunction(() => document.querySelector('[data-field="audit-summary"]')?.textContent?.startsWith('Last audit'), null, { timeout: 10_000 })
      expect(await dash.text('audit-summary')).toBe(
        'Last audit (2026-12-01T10:01:00.000Z): 19 repositories checked, 4,321 records compared, 1 differ, 1 not checked.',
      )
      expect(await dash.text('audit-drift-day')).toBe('5.0% (2 of 40)')
      expect(await dash.text('audit-drift-total')).toBe('2.0% (4 of 200)')
      const items = await dash.page.locator('[data-field="audit-differing"] li').allTextContents()
      expect(items).toEqual([`${DIFFERING} 2 missing, 1 stale`, `did:plc:failedaaaaaaaaaaaaaaaaaa not checked: pds answered 500 ${XSS}`])
      expect(await dash.page.locator('[data-field="audit-differing"] img').count()).toBe(0)
      expect(dash.dialogs).toEqual([])
    } finally {
      await dash.close()
    }
  })

  it('starts an audit of the sample size given, repairing when asked', async () => {
    const dash = await openDashboard(fake.url, { browser })
    try {
      await dash.unlock(TOKEN)
      await dash.page.locator('[data-field="audit-sample"]').fill('7')
      await dash.page.locator('[data-field="audit-fix"]').check()
      await dash.page.locator('[data-field="audit-run-sample"]').click()
      await dash.page.waitForFunction(() => document.querySelector('[data-field="audit-message"]')?.textContent === 'Audit started.', null, { timeout: 10_000 })
      expect(begun).toEqual([{ selection: { mode: 'sample', sample: 7 }, fix: true }])
    } finally {
      await dash.close()
    }
  })
})
