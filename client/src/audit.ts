// The audit card: start an audit of a random sample or of every repository (optionally repairing what differs),
// follow it while it runs, and show the last report and the drift rate. Everything goes through GET/POST
// /api/audit with the admin token the Controls card holds; without one the card only says how to unlock it.
import type { AuditStatus } from '../../server/services/audit.js'
import type { RepoAudit } from '../../server/audit/report.js'
import { readToken } from './admin.js'
import { el, field, setText } from './dom.js'
import { count, percent } from './format.js'

const POLL_MS = 3000
const DIFFERING_SHOWN = 10

const kinds = (d: RepoAudit['differences']) =>
  (Object.entries(d) as [string, number][]).filter(([, n]) => n > 0).map(([k, n]) => `${count(n)} ${k}`).join(', ')

const ratio = (r: { checked: number; differing: number; ratio: number | null }) =>
  r.ratio === null ? 'none audited' : `${percent(Math.round(r.ratio * 1000) / 10)} (${count(r.differing)} of ${count(r.checked)})`

export function auditSummary(s: AuditStatus): string {
  if (s.running) {
    const r = s.running
    const of = r.reposTotal === null ? '' : ` of ${count(r.reposTotal)}`
    return `Running (${r.phase}): ${count(r.reposDone)}${of} repositories, ${count(r.reposDiffering)} differing so far.`
  }
  if (s.lastError) return `The last audit failed: ${s.lastError}`
  const last = s.last
  if (!last) return s.background.samplePerHour > 0 ? `No audit run yet; ${count(s.background.samplePerHour)} random repositories an hour in the background.` : 'No audit run yet.'
  const t = last.totals
  const repair = last.repair ? ` Repaired ${count(last.repair.repaired.length)} of ${count(last.repair.queued.length)}.` : ''
  return `Last audit (${last.finishedAt}): ${count(t.reposChecked)} repositories checked, ${count(t.recordsCompared)} records compared, ` +
    `${count(t.reposDiffering)} differ, ${count(t.reposFailed)} not checked.${repair}`
}

export class AuditCard {
  private busy = false
  private readonly form = field<HTMLFormElement>('audit-form')
  private readonly sample = field<HTMLInputElement>('audit-sample')
  private readonly fix = field<HTMLInputElement>('audit-fix')
  private readonly message = field('audit-message')

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.start({ sample: Number(this.sample.value) })
    })
    field('audit-run-all').addEventListener('click', () => void this.start({ all: true }))
    void this.refresh()
    setInterval(() => void this.refresh(), POLL_MS)
  }

  private async request(method: 'GET' | 'POST', body?: unknown): Promise<{ status: number; body: { message?: string } | null } | null> {
    const token = readToken()
    this.lock(token === null)
    if (token === null) return null
    const res = await fetch('api/audit', {
      method,
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    })
    return { status: res.status, body: (await res.json().catch(() => null)) as { message?: string } | null }
  }

  private lock(locked: boolean): void {
    field('audit-locked').hidden = !locked
    this.form.hidden = locked
  }

  private async refresh(): Promise<void> {
    try {
      const res = await this.request('GET')
      if (!res) return
      if (res.status !== 200) {
        this.say(`GET /api/audit: HTTP ${res.status}${res.body?.message ? ` (${res.body.message})` : ''}`, true)
        return
      }
      this.render(res.body as unknown as AuditStatus)
    } catch (err) {
      this.say(`Could not reach the server: ${err instanceof Error ? err.message : String(err)}`, true)
    }
  }

  private async start(choice: { sample: number } | { all: true }): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      const res = await this.request('POST', { ...choice, fix: this.fix.checked })
      if (!res) return
      if (res.status === 202) this.say('Audit started.')
      else this.say(`${res.status === 409 ? 'An audit is already running' : `HTTP ${res.status}`}${res.body?.message ? `: ${res.body.message}` : ''}`, true)
      await this.refresh()
    } catch (err) {
      this.say(`Could not reach the server: ${err instanceof Error ? err.message : String(err)}`, true)
    } finally {
      this.busy = false
    }
  }

  private render(s: AuditStatus): void {
    setText('audit-summary', auditSummary(s))
    setText('audit-drift-day', ratio(s.drift.last24h))
    setText('audit-drift-total', ratio(s.drift.total))
    for (const b of this.form.querySelectorAll('button')) b.disabled = s.running !== null
    const differing = (s.last?.repos ?? []).filter((r) => r.outcome === 'failed' || kinds(r.differences) !== '').slice(0, DIFFERING_SHOWN)
    field('audit-differing').replaceChildren(
      ...differing.map((r) => {
        const li = el('li')
        li.append(el('span', r.did, 'did'), el('span', r.outcome === 'failed' ? ` not checked: ${r.error ?? ''}` : ` ${kinds(r.differences)}`))
        return li
      }),
    )
  }

  private say(text: string, error = false): void {
    this.message.textContent = text
    this.message.classList.toggle('error', error)
    this.message.hidden = text === ''
  }
}
