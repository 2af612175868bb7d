// Puts one LivePayload on the page. Text only through textContent (see dom.ts).
import type { BackfillProgress, BackfillState, LivePayload, LogLine } from './types.js'
import { DASH, ago, count, decimal, duration, mb, ms, percent, utc } from './format.js'
import { formatSpan, plural } from '../../server/services/format.js'
import { el, field, setBar, setLevel, setText } from './dom.js'
import { renderRepos } from './repos.js'
import { renderInstances } from './instances.js'
import { renderSources } from './source.js'

const STATE_TEXT: Record<BackfillState, string> = {
  off: 'Backfill is off: BACKFILL_DAYS is unset or 0. The live firehose indexes new events only.',
  idle: 'Waiting to start.',
  locating: 'Locating the window on the source (probing for the head and the oldest event).',
  running: 'Replaying history toward the head.',
  paused: 'Paused.',
  throttled: 'Running, throttled to leave room for the appview.',
  complete: 'Complete: the window has been backfilled up to the head.',
  failed: 'Failed.',
}

const PAUSE_REASON: Record<string, string> = {
  operator: 'by the operator',
  memory: 'memory above its limit',
  database: 'the database is unreachable (retrying)',
}

/** The throttle in words: the profile, and what the throttle says of itself when that adds something. */
export function throttleText(p: BackfillProgress): string {
  const { profile, describe } = p.throttle
  return !describe || describe === profile || describe.startsWith(`${profile}:`) || describe.startsWith(`${profile} `)
    ? describe || profile
    : `${profile}: ${describe}`
}

export function stateDetail(p: BackfillProgress): string {
  let text = STATE_TEXT[p.state] ?? p.state
  if (p.state === 'paused' && p.pausedBy.length) {
    text = `Paused: ${p.pausedBy.map((r) => PAUSE_REASON[r] ?? r).join(', ')}.`
  }
  if (p.state === 'throttled') {
    text = `Running, throttled: ${count(p.throttle.batchDelayMs)} ms between batches of ${count(p.throttle.batchSize)} events (${throttleText(p)}).`
  }
  if (p.state === 'failed' && p.error) text = `Failed: ${p.error}`
  if (p.state === 'complete' && p.completedAt) text = `Complete: backfilled up to seq ${count(p.head)} at ${utc(p.completedAt)}.`
  return text
}

/** What the window honestly covers: asked vs. what the source still holds. */
export function windowNote(p: BackfillProgress, now = Date.now()): string {
  if (p.state === 'off') return 'No backfill window (BACKFILL_DAYS unset or 0).'
  const { days, requestedFrom, availableFrom } = p.window
  if (!availableFrom) {
    if (p.state === 'locating' || p.state === 'idle') return 'Not located yet.'
    return p.head !== null ? 'The source holds no history before the head: nothing to backfill.' : ''
  }
  const heldText = formatSpan((p.startedAt ? Date.parse(p.startedAt) : now) - Date.parse(availableFrom.time))
  if (days === null) return `Everything the source holds: ${heldText} of history.`
  if (requestedFrom && Date.parse(availableFrom.time) > Date.parse(requestedFrom)) {
    return `The source holds less than asked: ${plural(days, 'day')} asked, only ${heldText} available. ` +
      (p.repos ? 'The rest is fetched from the repositories (below).' : 'Relays keep about 72 hours of replay.')
  }
  return `The full ${plural(days, 'day')} asked are available (the source holds ${heldText}).`
}

export function render(payload: LivePayload): void {
  renderBackfill(payload.backfill)
  renderRepos(payload.backfill)
  renderInstances(payload.backfill)
  renderResources(payload)
  renderFirehose(payload)
  renderSources(payload)
  renderLogs(payload.backfill.logs)
  setText('updated-at', utc(payload.at))
}

function renderBackfill(p: BackfillProgress): void {
  const state = field('state')
  state.textContent = p.state
  state.dataset.state = p.state
  document.body.dataset.state = p.state
  setText('state-detail', stateDetail(p))

  setText('percent', percent(p.percent))
  setBar('progress-bar', p.percent === null ? null : p.percent / 100)
  setText('eta', p.state === 'complete' ? 'done' : p.etaSeconds === null ? DASH : duration(p.etaSeconds))
  setText('rate', `${decimal(p.eventsPerSecond)} evt/s`)
  setText('cursor', count(p.cursor))
  setText('head', count(p.head))
  setText('start', count(p.start))
  setText('remaining', p.cursor !== null && p.head !== null ? count(Math.max(0, p.head - p.cursor)) : DASH)
  setText('relay', p.relay)

  setText('window-days', p.window.days === null ? (p.state === 'off' ? 'off' : 'all the source holds') : plural(p.window.days, 'day'))
  setText('window-requested', p.window.requestedFrom ? utc(p.window.requestedFrom) : DASH)
  setText(
    'window-available',
    p.window.availableFrom ? `${utc(p.window.availableFrom.time)} (seq ${count(p.window.availableFrom.seq)})` : DASH,
  )
  const note = windowNote(p)
  setText('window-note', note)
  const short = p.window.requestedFrom && p.window.availableFrom && Date.parse(p.window.availableFrom.time) > Date.parse(p.window.requestedFrom)
  field('window-note').classList.toggle('warn', Boolean(short))
  setText('started-at', p.startedAt ? `${utc(p.startedAt)} (${ago(p.startedAt)})` : DASH)

  const error = field('error')
  error.textContent = p.error ?? ''
  error.hidden = !p.error
  const gaps = field('gaps')
  gaps.hidden = p.gaps.length === 0
  gaps.textContent = p.gaps.length
    ? `${p.gaps.length} gap${p.gaps.length === 1 ? '' : 's'} in the stream; last: ${p.gaps.at(-1)!.reason} (after seq ${count(p.gaps.at(-1)!.afterSeq)}, resumed at ${count(p.gaps.at(-1)!.resumedAt)})`
    : ''

  const c = p.counts
  setText('received', count(c.received))
  setText('processed', count(c.processed))
  setText('skipped', count(c.skipped))
  setText('invalid', count(c.invalid))
  setText('upserted', count(c.upserted))
  setText('deleted', count(c.deleted))
  setText('unindexed', count(c.unindexed))
  setLevel('invalid-card', c.invalid > 0 ? 'warn' : 'ok')
}

function renderResources({ backfill: p, system: s }: LivePayload): void {
  const limit = p.memory.limitMb
  setText('rss', mb(s.rssMb ?? p.memory.rssMb))
  setText('memory-limit', limit > 0 ? mb(limit) : 'no limit')
  setText('heap', mb(s.heapUsedMb ?? p.memory.heapUsedMb))
  const memFraction = limit > 0 ? (s.rssMb ?? p.memory.rssMb) / limit : null
  setBar('memory-bar', memFraction)
  setLevel('memory-bar', p.memory.paused || (memFraction ?? 0) >= 1 ? 'bad' : (memFraction ?? 0) >= 0.8 ? 'warn' : 'ok')
  field('memory-paused').hidden = !p.memory.paused

  // With the adaptive governor, use is shown against its budget and judged by it.
  const budget = p.throttle.budget
  setText('cpu', budget ? `${decimal(s.cpuPercent)}% of ${count(budget.maxCpuPercent)}% budget` : `${decimal(s.cpuPercent)}%`)
  const cpuLimit = budget?.maxCpuPercent ?? 90
  setLevel('cpu', s.cpuPercent >= cpuLimit * (budget ? 1.2 : 1) ? 'bad' : s.cpuPercent >= cpuLimit * (budget ? 1 : 0.55) ? 'warn' : 'ok')
  setText('loop-p50', ms(s.loopDelayP50Ms))
  setText('loop-p99', budget ? `${ms(s.loopDelayP99Ms)} of ${count(budget.maxLagMs)} ms budget` : ms(s.loopDelayP99Ms))
  setText('loop-max', ms(s.loopDelayMaxMs))
  setLevel('loop-p99', s.loopDelayP99Ms >= 100 ? 'bad' : s.loopDelayP99Ms >= 30 ? 'warn' : 'ok')

  setText('db-in-use', count(p.db.inUse))
  setText('db-limit', count(p.db.limit))
  setBar('db-bar', p.db.limit > 0 ? p.db.inUse / p.db.limit : null)
  setLevel('db-bar', p.db.down ? 'bad' : p.db.inUse >= p.db.limit ? 'warn' : 'ok')
  setText('db-high-water', count(p.db.highWater))
  setText('db-pool', `${count(p.db.poolTotal)} open of ${count(p.db.poolSize)}, ${count(p.db.poolWaiting)} waiting`)
  field('db-down').hidden = !p.db.down
  setText('throttle', throttleText(p))
  setText('batch', `${count(p.throttle.batchSize)} events, ${count(p.throttle.batchDelayMs)} ms between batches${p.throttle.useIdle ? ', idle yielding' : ''}`)
}

function renderFirehose({ firehose: f }: LivePayload): void {
  for (const name of ['firehose-state', 'header-firehose-state']) {
    const state = field(name)
    state.textContent = f.state
    state.dataset.state = f.state
  }
  const on = 'cursor' in f
  setText('firehose-cursor', on ? count(f.cursor) : DASH)
  setText('firehose-rate', on ? `${decimal(f.eventsPerSecond)} evt/s` : DASH)
  setText('firehose-processed', on ? count(f.processed) : DASH)
  // Of the instances on the database, the one indexing the live firehose (this one when live).
  setText('firehose-holder', on && f.holder ? f.holder : DASH)
  const error = field('firehose-error')
  error.textContent = on && f.error ? f.error : ''
  error.hidden = !(on && f.error)
  field('firehose-off').hidden = f.state !== 'off'
}

let lastLogKey = ''

function renderLogs(lines: LogLine[]): void {
  const key = lines.length ? `${lines.length}|${lines.at(-1)!.at}|${lines.at(-1)!.text}` : ''
  if (key === lastLogKey) return
  lastLogKey = key
  const list = field<HTMLOListElement>('logs')
  const stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24
  list.replaceChildren(
    ...lines.map((line) => {
      const item = el('li')
      const time = el('time', line.at.slice(11, 19), 'log-time')
      time.dateTime = line.at
      item.append(time, el('span', line.text, 'log-text'))
      return item
    }),
  )
  field('logs-empty').hidden = lines.length > 0
  if (stickToBottom) list.scrollTop = list.scrollHeight
}
