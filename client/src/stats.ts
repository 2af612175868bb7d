// Indexed records per collection, from GET /api/stats. Fetched on load, then at most every 15 s while the page is
// visible and the counts move (never once per SSE tick: it queries the database). Numbers the server estimated
// (big tables) are marked "≈". A server without the endpoint (404) gets a plain note, not an error.
import type { Stats } from '../../server/api/stats.js'
import { count, DASH } from './format.js'
import { el, field, setText } from './dom.js'

export type CollectionCount = { collection: string; count: number; exact: boolean }

type Counted = { count?: unknown; exact?: unknown }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null)

/** "≈ 1,234" for an estimate, "1,234" for an exact count. */
export function shownCount(value: number | null, exact = true): string {
  if (value === null) return DASH
  return exact ? count(value) : `≈ ${count(value)}`
}

/** Reads /api/stats defensively (a newer or older server may differ): per-collection rows, largest first. */
export function normalizeStats(body: unknown): {
  rows: CollectionCount[]
  total: { count: number; exact: boolean } | null
  actors: { count: number; exact: boolean } | null
  rejects: { count: number; exact: boolean } | null
  /** The rejects by the Events card's words: category `unsupported` is skipped, every other is rejected. */
  rejectsSplit: { skipped: number; rejected: number } | null
  unindexed: { collections: number; ops: number } | null
  sizeBytes: number | null
} {
  const b = (isObject(body) ? body : {}) as Partial<Record<keyof Stats, unknown>>
  const counted = (v: unknown) => {
    if (!isObject(v)) return null
    const n = num((v as Counted).count)
    return n === null ? null : { count: n, exact: (v as Counted).exact !== false }
  }
  const rows: CollectionCount[] = []
  if (Array.isArray(b.collections)) {
    for (const item of b.collections) {
      if (!isObject(item) || typeof item.collection !== 'string') continue
      const n = num(item.count)
      if (n !== null) rows.push({ collection: item.collection, count: n, exact: item.exact !== false })
    }
  }
  rows.sort((x, y) => y.count - x.count || x.collection.localeCompare(y.collection))
  const unindexed = isObject(b.unindexedCollections) ? b.unindexedCollections : null
  const byCategory = isObject(b.rejects) && Array.isArray(b.rejects.byCategory) ? (b.rejects.byCategory as unknown[]).filter(isObject) : null
  const sumOf = (keep: (category: unknown) => boolean) =>
    (byCategory ?? []).filter((c) => keep(c.category)).reduce((n, c) => n + (num(c.count) ?? 0), 0)
  return {
    rows,
    total: counted(b.records) ?? (rows.length ? { count: rows.reduce((s, r) => s + r.count, 0), exact: rows.every((r) => r.exact) } : null),
    actors: counted(b.actors),
    rejects: counted(b.rejects),
    rejectsSplit: byCategory ? { skipped: sumOf((c) => c === 'unsupported'), rejected: sumOf((c) => c !== 'unsupported') } : null,
    unindexed: unindexed ? { collections: num(unindexed.collections) ?? 0, ops: num(unindexed.ops) ?? 0 } : null,
    sizeBytes: isObject(b.database) ? num(b.database.sizeBytes) : null,
  }
}

function bytes(n: number | null): string {
  if (n === null) return DASH
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`
}

export class StatsPanel {
  private inFlight = false
  private lastFetch = 0
  private lastProcessed: number | null = null
  /** Fetches still owed once the counts stop moving: the server recomputes in the background (stale-while-revalidate),
   * so the first answer after the last write may still be the older figures. */
  private settling = 0
  private unavailable = false

  // Every few seconds while the counts move: the table must not lag far behind the Events card.
  constructor(private readonly minIntervalMs = 3000) {}

  /** Called on every progress tick with the backfill + firehose processed counts; fetches when due. */
  maybeRefresh(processed: number): void {
    const moved = processed !== this.lastProcessed
    if (moved) this.settling = 2
    const wait = this.unavailable || (!moved && this.settling === 0) ? 60_000 : this.minIntervalMs
    if (document.visibilityState === 'hidden' || this.inFlight || Date.now() - this.lastFetch < wait) return
    if (!moved && this.settling > 0) this.settling--
    this.lastProcessed = processed
    void this.refresh()
  }

  async refresh(): Promise<void> {
    this.inFlight = true
    this.lastFetch = Date.now()
    try {
      const res = await fetch('api/stats', { headers: { Accept: 'application/json' }, cache: 'no-store' })
      if (res.status === 404) {
        this.unavailable = true
        this.showNote('Record counts are not available from this server (no /api/stats).')
        return
      }
      const body: unknown = await res.json().catch(() => null)
      if (!res.ok) {
        const message = isObject(body) && typeof body.message === 'string' ? `: ${body.message}` : ''
        this.showNote(`Could not load record counts (HTTP ${res.status})${message}`, true)
        return
      }
      this.unavailable = false
      this.render(normalizeStats(body))
    } catch (err) {
      this.showNote(`Could not load record counts: ${err instanceof Error ? err.message : String(err)}`, true)
    } finally {
      this.inFlight = false
    }
  }

  private showNote(text: string, isError = false): void {
    const note = field('stats-note')
    note.textContent = text
    note.classList.toggle('error', isError)
    note.hidden = false
  }

  private render(stats: ReturnType<typeof normalizeStats>): void {
    const rows = stats.rows.map((r) => {
      const tr = el('tr')
      tr.dataset.collection = r.collection
      tr.append(el('td', r.collection, 'nsid'), el('td', shownCount(r.count, r.exact), 'num'))
      return tr
    })
    field<HTMLTableSectionElement>('stats-rows').replaceChildren(...rows)
    setText('stats-total', stats.total ? shownCount(stats.total.count, stats.total.exact) : DASH)
    setText('stats-actors', stats.actors ? shownCount(stats.actors.count, stats.actors.exact) : DASH)
    const exact = stats.rejects?.exact !== false
    setText(
      'stats-rejects',
      stats.rejectsSplit
        ? `${shownCount(stats.rejectsSplit.skipped, exact)} skipped, ${shownCount(stats.rejectsSplit.rejected, exact)} rejected`
        : stats.rejects
          ? shownCount(stats.rejects.count, stats.rejects.exact)
          : DASH,
    )
    setText('stats-unindexed', stats.unindexed ? `${count(stats.unindexed.collections)} (${count(stats.unindexed.ops)} ops)` : DASH)
    setText('stats-size', bytes(stats.sizeBytes))
    const note = field('stats-note')
    note.classList.remove('error')
    note.hidden = rows.length > 0
    if (!rows.length) note.textContent = 'No record collections reported.'
    const estimated = stats.rows.some((r) => !r.exact)
    setText('stats-updated', `updated ${new Date().toISOString().slice(11, 19)} UTC${estimated ? '; ≈ marks planner estimates' : ''}`)
  }
}
