// Reading the dashboard from a real browser (playwright-core driving the system Chromium). Reusable by any test
// that has a skyfill URL:
//
//   const browser = await launchBrowser()
//   const dash = await openDashboard(server.url, { browser })
//   await dash.waitFor((s) => s.state === 'complete' && s.percent === 100, 60_000)
//   const s = await dash.snapshot()          // every field at once, numbers parsed
//   await dash.screenshot('e2e-complete')    // → test-results/e2e-complete.png
//   expect(dash.dialogs).toEqual([])         // nothing like alert() ran
//   await dash.close(); await browser.close()
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const RESULTS_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url))

export const PHONE = { width: 375, height: 812 }
export const DESKTOP = { width: 1280, height: 1000 }

/**
 * Headless Chromium. Playwright gives every launch() a fresh temporary profile (its own --user-data-dir, removed
 * on close; it refuses one passed in args), so no state leaks between runs.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    timeout: 30_000,
  })
}

export type DashboardSnapshot = {
  state: string
  stateDetail: string
  connection: string
  percent: number | null
  percentText: string
  eta: string
  rate: number | null
  cursor: number | null
  head: number | null
  start: number | null
  counts: { received: number | null; processed: number | null; skipped: number | null; invalid: number | null }
  window: { days: string; requestedFrom: string; availableFrom: string; note: string }
  error: string | null
  logs: string[]
  memory: { rssMb: number | null; limit: string }
  cpuPercent: number | null
  /** The CPU cell as shown, e.g. '12.5%' or '12.5% of 15% budget'. */
  cpu: string
  loopP99: string
  db: { inUse: number | null; limit: number | null }
  firehoseState: string
  /** Indexed records per collection as shown; `text` keeps the "≈" of an estimate. */
  stats: { collection: string; count: number | null; text: string }[]
  statsTotal: number | null
  statsNote: string | null
  chartPoints: number
  controlsVisible: boolean
  tokenFormVisible: boolean
  controlMessage: string | null
  updatedAt: string
}

export type DashboardPage = {
  page: Page
  context: BrowserContext
  /** Messages of any alert/confirm/prompt that fired (each is dismissed). Should stay empty. */
  dialogs: string[]
  /** Console errors and uncaught page errors (CSP violations show up here too). */
  errors: string[]
  text(field: string): Promise<string>
  snapshot(): Promise<DashboardSnapshot>
  /** Polls snapshot() until the predicate holds; throws with the last snapshot on timeout. */
  waitFor(predicate: (s: DashboardSnapshot) => boolean, timeoutMs?: number): Promise<DashboardSnapshot>
  /** True when the page is wider than the viewport (sideways scrolling on a phone). */
  hasHorizontalScroll(): Promise<boolean>
  /** Full-page PNG under test-results/; returns its path. */
  screenshot(name: string): Promise<string>
  unlock(token: string): Promise<void>
  pause(): Promise<void>
  resume(): Promise<void>
  close(): Promise<void>
}

/** Parses what the page shows: "1,234" → 1234, "12.5%" → 12.5, "7.5 evt/s" → 7.5, "—" → null. */
export function parseShown(text: string | null | undefined): number | null {
  if (!text) return null
  const match = /-?[\d,]+(?:\.\d+)?/.exec(text)
  if (!match) return null
  const value = Number(match[0].replace(/,/g, ''))
  return Number.isFinite(value) ? value : null
}

export async function openDashboard(
  url: string,
  options: { browser: Browser; viewport?: { width: number; height: number }; waitForData?: boolean },
): Promise<DashboardPage> {
  const context = await options.browser.newContext({ viewport: options.viewport ?? DESKTOP, deviceScaleFactor: 1 })
  const page = await context.newPage()
  const dialogs: string[] = []
  const errors: string[] = []
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`)
    void dialog.dismiss().catch(() => {})
  })
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  await page.goto(url, { waitUntil: 'domcontentloaded' })
  if (options.waitForData ?? true) {
    await page.waitForSelector('body.has-data', { timeout: 15_000 })
  }

  const snapshot = async (): Promise<DashboardSnapshot> => {
    const raw = await page.evaluate(() => {
      const f = (name: string) => document.querySelector<HTMLElement>(`[data-field="${name}"]`)
      const t = (name: string) => f(name)?.textContent?.trim() ?? ''
      const visible = (name: string) => {
        const el = f(name)
        return !!el && !el.hidden && el.getClientRects().length > 0
      }
      return {
        fields: Object.fromEntries(
          [...document.querySelectorAll<HTMLElement>('[data-field]')].map((el) => [el.dataset.field!, el.textContent?.trim() ?? '']),
        ),
        hidden: Object.fromEntries(
          [...document.querySelectorAll<HTMLElement>('[data-field]')].map((el) => [el.dataset.field!, el.hidden]),
        ),
        logs: [...document.querySelectorAll('[data-field="logs"] li .log-text')].map((el) => el.textContent ?? ''),
        stats: [...document.querySelectorAll<HTMLTableRowElement>('[data-field="stats-rows"] tr')].map((tr) => ({
          collection: tr.cells[0]?.textContent ?? '',
          count: tr.cells[1]?.textContent ?? '',
        })),
        chartPoints: Number(f('rate-chart')?.dataset.points ?? 0),
        controlsVisible: visible('controls'),
        tokenFormVisible: visible('token-form'),
        connection: t('connection'),
      }
    })
    const v = raw.fields
    return {
      state: v.state ?? '',
      stateDetail: v['state-detail'] ?? '',
      connection: raw.connection,
      percent: parseShown(v.percent),
      percentText: v.percent ?? '',
      eta: v.eta ?? '',
      rate: parseShown(v.rate),
      cursor: parseShown(v.cursor),
      head: parseShown(v.head),
      start: parseShown(v.start),
      counts: {
        received: parseShown(v.received),
        processed: parseShown(v.processed),
        skipped: parseShown(v.skipped),
        invalid: parseShown(v.invalid),
      },
      window: {
        days: v['window-days'] ?? '',
        requestedFrom: v['window-requested'] ?? '',
        availableFrom: v['window-available'] ?? '',
        note: v['window-note'] ?? '',
      },
      error: raw.hidden.error ? null : (v.error ?? null),
      logs: raw.logs,
      memory: { rssMb: parseShown(v.rss), limit: v['memory-limit'] ?? '' },
      cpuPercent: parseShown(v.cpu),
      cpu: v.cpu ?? '',
      loopP99: v['loop-p99'] ?? '',
      db: { inUse: parseShown(v['db-in-use']), limit: parseShown(v['db-limit']) },
      firehoseState: v['firehose-state'] ?? '',
      stats: raw.stats.map((r) => ({ collection: r.collection, count: parseShown(r.count), text: r.count })),
      statsTotal: parseShown(v['stats-total']),
      statsNote: raw.hidden['stats-note'] ? null : (v['stats-note'] ?? null),
      chartPoints: raw.chartPoints,
      controlsVisible: raw.controlsVisible,
      tokenFormVisible: raw.tokenFormVisible,
      controlMessage: raw.hidden['control-message'] ? null : (v['control-message'] ?? null),
      updatedAt: v['updated-at'] ?? '',
    }
  }

  const waitFor = async (predicate: (s: DashboardSnapshot) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs
    let last = await snapshot()
    while (!predicate(last)) {
      if (Date.now() > deadline) {
        throw new Error(`dashboard did not reach the expected state within ${timeoutMs} ms; last snapshot:\n${JSON.stringify(last, null, 2)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
      last = await snapshot()
    }
    return last
  }

  return {
    page,
    context,
    dialogs,
    errors,
    text: async (field) => (await page.locator(`[data-field="${field}"]`).first().textContent())?.trim() ?? '',
    snapshot,
    waitFor,
    hasHorizontalScroll: () =>
      page.evaluate(() => {
        const doc = document.documentElement
        return doc.scrollWidth > doc.clientWidth || document.body.scrollWidth > doc.clientWidth
      }),
    async screenshot(name) {
      await fs.mkdir(RESULTS_DIR, { recursive: true })
      const file = path.join(RESULTS_DIR, `${name}.png`)
      await page.screenshot({ path: file, fullPage: true })
      return file
    },
    async unlock(token) {
      await page.locator('[data-field="token-input"]').fill(token)
      await page.locator('[data-field="token-form"] button[type="submit"]').click()
    },
    async pause() {
      await page.locator('[data-field="pause"]').click()
    },
    async resume() {
      await page.locator('[data-field="resume"]').click()
    },
    close: () => context.close(),
  }
}
