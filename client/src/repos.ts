// The repository part of the backfill: how many repositories are finished of those known, the rate, each host's
// state (in flight, waiting, parked and why), and the latest failures with their reasons. Hidden when the run
// fetches no repositories (a replay-only window).
import type { BackfillProgress } from './types.js'
import { DASH, count, decimal, duration, percent, utc } from './format.js'
import { el, field, setBar, setText } from './dom.js'

type Repos = NonNullable<BackfillProgress['repos']>

export function reposSummary(r: Repos): string {
  const j = r.jobs
  const listing = r.listing.done ? '' : ' Still listing repositories, so the total grows.'
  return `${count(j.done + j.unavailable)} of ${count(j.total)} repositories finished: ${count(j.done)} fetched, ` +
    `${count(j.unavailable)} unavailable (taken down, deactivated or gone), ${count(j.failed)} failed` +
    `${r.retrying ? ` (${count(r.retrying)} to be retried)` : ''}.${listing}`
}

/** Every known repository by sync state: is the data still equal to the network's? */
export function syncSummary(sync: NonNullable<BackfillProgress['sync']>): string {
  return `Consistency of ${count(sync.total)} known repositories: ${count(sync.active)} in sync, ` +
    `${count(sync.desynchronized)} desynchronized (a gap was found), ${count(sync.resyncing)} being resynced, ${count(sync.error)} in error.`
}

export function renderRepos(p: BackfillProgress): void {
  const card = field('repos-card')
  const r = p.repos
  const sync = p.sync && p.sync.total > 0 ? p.sync : null
  card.hidden = r === null && sync === null
  const syncLine = field('repos-sync')
  syncLine.hidden = sync === null
  syncLine.textContent = sync ? syncSummary(sync) : ''
  syncLine.classList.toggle('warn', Boolean(sync && (sync.desynchronized > 0 || sync.error > 0)))
  field('repos-progress').hidden = r === null
  if (!r) return
  setText('repos-summary', reposSummary(r))
  setBar('repos-bar', r.percent === null ? null : r.percent / 100)
  setText('repos-percent', percent(r.percent))
  setText('repos-fetching', count(r.jobs.fetching))
  setText('repos-pending', count(r.jobs.pending))
  setText('repos-records', count(r.recordsWritten))
  setText('repos-rate', `${decimal(r.recordsPerSecond)} records/s`)
  setText('repos-eta', r.etaSeconds === null ? DASH : duration(r.etaSeconds))
  setText('repos-parked', count(r.parkedHosts))
  const errors = field('repos-listing-errors')
  errors.hidden = r.listing.errors.length === 0
  errors.textContent = r.listing.errors.length ? `Listing: ${r.listing.errors.join('; ')}` : ''
  renderHosts(r)
  renderFailures(r)
}

function renderHosts(r: Repos): void {
  const body = field('repos-hosts')
  const rows = r.hosts.slice(0, 20).map((h) => {
    const tr = el('tr')
    const parked = h.parkedUntil !== null ? `parked until ${utc(new Date(h.parkedUntil).toISOString())}${h.reason ? `: ${h.reason}` : ''}` : 'ok'
    tr.append(el('td', h.host), el('td', count(h.inFlight), 'num'), el('td', count(h.waiting), 'num'), el('td', count(h.requests), 'num'), el('td', parked))
    if (h.parkedUntil !== null) tr.className = 'parked'
    return tr
  })
  body.replaceChildren(...rows)
  field('repos-hosts-empty').hidden = rows.length > 0
}

function renderFailures(r: Repos): void {
  const list = field('repos-failures')
  const items = r.recentFailures.map((f) => {
    const next = f.nextTryAt === null ? 'not retried' : `next try ${utc(String(f.nextTryAt))}`
    const li = el('li')
    li.append(el('span', f.did, 'did'), el('span', ` ${f.host ?? 'unknown host'}: `, 'muted'), el('span', f.reason), el('span', ` (${count(f.attempts)} attempts, ${next})`, 'muted'))
    return li
  })
  list.replaceChildren(...items)
  field('repos-failures-empty').hidden = items.length > 0
}
