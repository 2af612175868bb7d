// The Instances card: every instance sharing the database, whether it is live, what it holds and its rates, as
// text (an instance id that looks like markup stays text); hidden until the server has read them.
import { describe, expect, it } from 'vitest'
import type { InstanceView } from '../../server/services/instance-registry.js'
import { XSS, progressFixture, fakeDashboardPerFile } from './fixtures.js'
import { openDashboard } from './page.js'

const dashboard = fakeDashboardPerFile()

const instance = (id: string, over: Partial<InstanceView> = {}): InstanceView => ({
  id,
  host: 'box-1',
  pid: 4242,
  startedAt: new Date(Date.now() - 600_000).toISOString(),
  lastHeartbeat: new Date(Date.now() - 1000).toISOString(),
  holds: { ranges: 1, repos: 4 },
  eventsPerSecond: 1200.5,
  recordsPerSecond: 300,
  framesWritten: 5000,
  live: true,
  self: false,
  ...over,
})

describe('the instances card', () => {
  it('lists every instance with what it holds, its rates and whether it is live, the answering one marked', async () => {
    dashboard.fake().progress = progressFixture({
      instances: [instance('alpha', { self: true }), instance(XSS, { live: false, holds: { ranges: 0, repos: 0 }, eventsPerSecond: 0, recordsPerSecond: 0 })],
    })
    const dash = await openDashboard(dashboard.fake().url, { browser: dashboard.browser() })
    try {
      await dash.page.waitForSelector('[data-field="instances-card"]:not([hidden])')
      expect(await dash.text('instances-summary')).toBe('1 live instance sharing the work, 1 not heard from lately; together 1,200.5 events/s replayed.')
      const rows = await dash.page.$$eval('[data-field="instances-rows"] tr', (trs) =>
        trs.map((r) => ({ cells: [...r.querySelectorAll('td')].map((td) => td.textContent), gone: r.classList.contains('parked') })),
      )
      expect(rows.map((r) => [r.cells[0], r.cells[1], r.cells[3], r.cells[4], r.cells[7], r.gone])).toEqual([
        ['alpha', 'box-1 (pid 4242)', '1', '4', 'live (this one)', false],
        [XSS, 'box-1 (pid 4242)', '0', '0', 'not heard from', true],
      ])
      expect(await dash.page.$$('[data-field="instances-rows"] img')).toHaveLength(0)
    } finally {
      await dash.close()
    }
  })

  it('is hidden while no instance is known', async () => {
    dashboard.fake().progress = progressFixture({ instances: [] })
    const dash = await openDashboard(dashboard.fake().url, { browser: dashboard.browser() })
    try {
      await dash.page.waitForSelector('[data-field="state"]:not([data-state="unknown"])')
      expect(await dash.page.$eval('[data-field="instances-card"]', (n) => (n as HTMLElement).hidden)).toBe(true)
    } finally {
      await dash.close()
    }
  })
})
