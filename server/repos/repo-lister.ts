// Finds which repositories to fetch: pages com.atproto.sync.listRepos on the relay and on each PDS named in the
// configuration, enqueues every listed DID as a job, and persists each listing's cursor in `repo_listings` after
// its page's jobs are in, so a restart continues from the last page (a page is at worst listed twice, and
// enqueueing is idempotent).
//
// Several instances may list the same source: the cursor is written only if it is still the one this lister read
// (compare-and-set), so the first to write a page goes on and the other stops that source at once.
import { ensureValidDid } from '@atproto/syntax'
import type pg from 'pg'
import type { EnqueueEntry, RepoJobStore } from './job-store.js'

/**
 * GETs a URL and parses its JSON body. In production this is safeFetch (net/safe-fetch.ts), which takes a
 * HostLimiter permit for the host per request: the lister itself does no pacing.
 */
export type FetchJson = (url: string, signal: AbortSignal) => Promise<unknown>

export type ListingSource = {
  /** 'relay' or 'pds:<host>': the row in repo_listings, and each job's discovered_via */
  name: string
  /** http(s) base URL of the host */
  baseUrl: string
  /** the host the listed repositories live on, when the listing is a PDS's own */
  host: string | null
}

/** The relay's listing, then one per PDS; a PDS is named by its URL's host (with the port, when not the default). */
export function listingSources(relayUrl: string | null, pdsUrls: readonly string[]): ListingSource[] {
  const sources: ListingSource[] = []
  if (relayUrl !== null) sources.push({ name: 'relay', baseUrl: httpBase(relayUrl), host: null })
  for (const url of pdsUrls) {
    const base = httpBase(url)
    const host = new URL(base).host
    sources.push({ name: `pds:${host}`, baseUrl: base, host })
  }
  return sources
}

const httpBase = (url: string): string => {
  const u = new URL(url)
  if (u.protocol === 'wss:') u.protocol = 'https:'
  else if (u.protocol === 'ws:') u.protocol = 'http:'
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new Error(`listing source ${url}: expected an http(s) or ws(s) URL, got protocol ${u.protocol}`)
  }
  return u.origin
}

export type RepoListerOptions = {
  store: Pick<RepoJobStore, 'enqueue'>
  fetchJson: FetchJson
  /** every job listed in this run fetches only what changed after this rev (the window's start); null: all */
  since: string | null
  /** entries per listRepos page (the lexicon's maximum is 1000) */
  pageSize?: number
  log?: (line: string) => void
}

export type ListingOutcome = {
  source: string
  /** pages read in this call */
  pages: number
  listed: number
  enqueued: number
  /** entries whose DID was not valid */
  rejected: number
  /** the listing has reached its end (now or in an earlier run) */
  complete: boolean
  /** why it stopped before the end: 'aborted', 'taken over by another lister', or the error */
  stopped: string | null
}

type Page = { cursor: string | null; entries: unknown[] }

const parsePage = (body: unknown, url: string): Page => {
  const b = body as { repos?: unknown; cursor?: unknown } | null
  if (typeof b !== 'object' || b === null || !Array.isArray(b.repos)) {
    throw new Error(`listRepos ${url}: expected an object with a repos array, got ${JSON.stringify(body)?.slice(0, 200)}`)
  }
  if (b.cursor !== undefined && b.cursor !== null && typeof b.cursor !== 'string') {
    throw new Error(`listRepos ${url}: expected cursor to be a string, got ${typeof b.cursor}`)
  }
  return { cursor: typeof b.cursor === 'string' && b.cursor !== '' ? b.cursor : null, entries: b.repos }
}

const PLC_DID = /^did:plc:[a-z2-7]{24}$/

type Accepted = { entries: EnqueueEntry[]; rejected: { value: unknown; why: string }[] }

const acceptEntries = (raw: unknown[], source: ListingSource, since: string | null): Accepted => {
  const accepted: Accepted = { entries: [], rejected: [] }
  for (const value of raw) {
    const e = value as { did?: unknown; active?: unknown; status?: unknown } | null
    try {
      if (typeof e !== 'object' || e === null || typeof e.did !== 'string') throw new Error('no did')
      ensureValidDid(e.did)
      // the two methods atproto blesses, the only ones identity resolution knows
      if (!PLC_DID.test(e.did) && !e.did.startsWith('did:web:')) throw new Error('not a did:plc or did:web')
      accepted.entries.push({
        did: e.did,
        discoveredVia: source.name,
        since,
        // absent means active (com.atproto.sync.listRepos)
        active: e.active !== false,
        status: typeof e.status === 'string' ? e.status : null,
        host: source.host,
      })
    } catch (err) {
      accepted.rejected.push({ value, why: (err as Error).message })
    }
  }
  return accepted
}

export class RepoLister {
  private readonly pageSize: number
  private readonly log: (line: string) => void

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: RepoListerOptions,
  ) {
    const pageSize = options.pageSize ?? 1000
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new Error(`listRepos page size must be an integer from 1 to 1000, got ${pageSize}`)
    }
    this.pageSize = pageSize
    this.log = options.log ?? (() => {})
  }

  /** Lists every source side by side; a source whose host fails stops alone (its outcome says why). */
  listAll(sources: readonly ListingSource[], signal: AbortSignal): Promise<ListingOutcome[]> {
    return Promise.all(sources.map((s) => this.list(s, signal)))
  }

  /** Pages one source from its persisted cursor to its end, or until `signal` aborts or a page fails. */
  async list(source: ListingSource, signal: AbortSignal): Promise<ListingOutcome> {
    const outcome: ListingOutcome = {
      source: source.name,
      pages: 0,
      listed: 0,
      enqueued: 0,
      rejected: 0,
      complete: false,
      stopped: null,
    }
    const saved = await this.pool.query<{ cursor: string | null; complete: boolean }>(
      'SELECT cursor, complete FROM repo_listings WHERE source = $1',
      [source.name],
    )
    let cursor = saved.rows[0]?.cursor ?? null
    if (saved.rows[0]?.complete) return { ...outcome, complete: true }
    while (!signal.aborted) {
      const url = new URL('/xrpc/com.atproto.sync.listRepos', source.baseUrl)
      url.searchParams.set('limit', String(this.pageSize))
      if (cursor !== null) url.searchParams.set('cursor', cursor)
      let page: Page
      try {
        page = parsePage(await this.options.fetchJson(url.toString(), signal), url.toString())
      } catch (err) {
        if (signal.aborted) break
        outcome.stopped = `listRepos ${source.name} after ${outcome.pages} pages: ${(err as Error).message}`
        this.log(outcome.stopped)
        return outcome
      }
      const { entries, rejected } = acceptEntries(page.entries, source, this.options.since)
      if (rejected.length > 0) {
        const first = rejected[0]
        this.log(
          `listRepos ${source.name}: ${rejected.length} of ${page.entries.length} entries rejected ` +
            `(first ${JSON.stringify(first.value)?.slice(0, 120)}: ${first.why})`,
        )
      }
      outcome.enqueued += await this.options.store.enqueue(entries)
      outcome.pages++
      outcome.listed += page.entries.length
      outcome.rejected += rejected.length
      // the end: no next page, an empty page, or a host that hands back the cursor it was given
      const complete = page.cursor === null || page.entries.length === 0 || page.cursor === cursor
      if (!(await this.saveCursor(source.name, cursor, complete ? cursor : page.cursor, complete, page.entries.length))) {
        outcome.stopped = 'taken over by another lister'
        return outcome
      }
      if (complete) {
        outcome.complete = true
        return outcome
      }
      cursor = page.cursor
    }
    outcome.stopped = 'aborted'
    return outcome
  }

  /** Forgets every listing's position, so the next run lists each source from its start. */
  async resetListings(): Promise<void> {
    await this.pool.query('DELETE FROM repo_listings')
  }

  private async saveCursor(
    source: string,
    expected: string | null,
    cursor: string | null,
    complete: boolean,
    listed: number,
  ): Promise<boolean> {
    const res = await this.pool.query(
      `INSERT INTO repo_listings (source, cursor, complete, repos) VALUES ($1, $3, $4, $5)
       ON CONFLICT (source) DO UPDATE
         SET cursor = EXCLUDED.cursor, complete = EXCLUDED.complete,
             repos = repo_listings.repos + EXCLUDED.repos, updated_at = now()
         WHERE repo_listings.cursor IS NOT DISTINCT FROM $2 AND NOT repo_listings.complete`,
      [source, expected, cursor, complete, listed],
    )
    return res.rowCount === 1
  }
}
