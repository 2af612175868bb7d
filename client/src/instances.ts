// The instances sharing this database's backfill: who they are, when each was last heard from, what each holds
// (replay ranges, repository jobs) and its rates. Every instance's page shows them all; the one answering is marked.
// Hidden until the server has read them once.
import type { BackfillProgress } from './types.js'
import { ago, count, decimal } from './format.js'
import { el, field, setText } from './dom.js'

type Instance = BackfillProgress['instances'][number]

export function instancesSummary(list: readonly Instance[]): string {
  const live = list.filter((i) => i.live)
  const gone = list.length - live.length
  const rate = live.reduce((n, i) => n + i.eventsPerSecond, 0)
  return `${count(live.length)} live ${live.length === 1 ? 'instance' : 'instances'} sharing the work` +
    `${gone ? `, ${count(gone)} not heard from lately` : ''}; together ${decimal(rate)} events/s replayed.`
}

export function renderInstances(p: BackfillProgress): void {
  const list = p.instances ?? []
  field('instances-card').hidden = list.length === 0
  if (list.length === 0) return
  setText('instances-summary', instancesSummary(list))
  const rows = list.map((i) => {
    const tr = el('tr')
    const state = i.live ? (i.self ? 'live (this one)' : 'live') : 'not heard from'
    tr.append(
      el('td', i.id),
      el('td', `${i.host} (pid ${i.pid})`),
      el('td', ago(i.lastHeartbeat)),
      el('td', count(i.holds.ranges), 'num'),
      el('td', count(i.holds.repos), 'num'),
      el('td', decimal(i.eventsPerSecond), 'num'),
      el('td', decimal(i.recordsPerSecond), 'num'),
      el('td', state),
    )
    if (!i.live) tr.className = 'parked'
    return tr
  })
  field('instances-rows').replaceChildren(...rows)
}
