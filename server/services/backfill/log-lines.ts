// The backfill's [BACKFILL] lines that are more than a sentence: the configuration block at start and the progress
// line. Pure, so their wording is tested and kept in one place.
import { THROTTLE_VARS, type BackfillConfig } from '../../config/index.js'
import type { ThrottleSettings } from '../../config/profiles.js'
import { HEAP_LIMIT_SHARE, pauseAboveMb } from '../../pipeline/watchdog.js'
import { plural } from '../format.js'
import type { BackfillProgress } from './progress.js'
import type { RepoProgress } from './repo-part.js'

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
}

export function describeWindow(window: BackfillConfig['window']): string {
  if (window === null) return 'off'
  if (window.kind === 'held') return 'everything the source holds'
  if (window.kind === 'all') return 'every record of every repository, and everything the source holds'
  return plural(window.days, 'day')
}

/** @param heapLimit V8's heap limit in MB: intake pauses below it even when BACKFILL_MAX_MEMORY_MB is higher. */
export function configLines(config: BackfillConfig, settings: ThrottleSettings, described: string, relay: string, heapLimit: number): string[] {
  const pauseAt = pauseAboveMb(settings.maxMemoryMb, heapLimit)
  const heapNote = pauseAt < settings.maxMemoryMb ? ` (pausing at ${pauseAt} MB: ${HEAP_LIMIT_SHARE * 100}% of V8's ${heapLimit} MB heap limit)` : ''
  const explicit = (Object.keys(config.explicit) as (keyof typeof THROTTLE_VARS)[]).map((k) => THROTTLE_VARS[k])
  return [
    'Resource throttling config:',
    `  profile: ${config.profile}${described === config.profile ? '' : ` (${described})`}` +
      (explicit.length ? `; set explicitly: ${explicit.join(', ')}` : ''),
    `  window: ${describeWindow(config.window)} from ${relay}`,
    `  batch size: ${settings.batchSize} events, delay between batches: ${settings.batchDelayMs} ms`,
    `  max concurrent DB operations: ${settings.maxConcurrent} (pool ${settings.dbPoolSize})`,
    `  memory limit: ${settings.maxMemoryMb} MB RSS${heapNote}${typeof globalThis.gc === 'function' ? ', GC exposed' : ''}`,
    `  idle yielding: ${settings.useIdle ? 'on' : 'off'}; decoder: ${config.decoder}`,
  ]
}

export function progressLine(p: BackfillProgress): string {
  const eta = p.etaSeconds === null ? '' : `, ETA ${formatDuration(p.etaSeconds)}`
  const pct = p.replayPercent === null ? '' : `${p.replayPercent.toFixed(1)}% `
  return `Progress: ${pct}cursor ${p.cursor}/${p.head}, ${p.counts.processed} events written, ${p.counts.invalid} rejected (${Math.round(p.eventsPerSecond)} evt/s${eta})`
}

export function repoProgressLine(r: RepoProgress): string {
  const j = r.jobs
  const eta = r.etaSeconds === null ? '' : `, ETA ${formatDuration(r.etaSeconds)}`
  const parked = r.parkedHosts ? `; ${r.parkedHosts} ${r.parkedHosts === 1 ? 'host' : 'hosts'} parked` : ''
  const listing = r.listing.done ? '' : '; still listing'
  return (
    `Repos: ${j.done + j.unavailable}/${j.total} finished${r.percent === null ? '' : ` (${r.percent.toFixed(1)}%)`}: ` +
    `${j.done} fetched, ${j.unavailable} unavailable, ${j.fetching} fetching, ${j.pending} pending, ${j.failed} failed` +
    `${r.retrying ? ` (${r.retrying} to retry)` : ''}; ${r.recordsWritten} records (${Math.round(r.recordsPerSecond)} records/s${eta})${parked}${listing}`
  )
}
