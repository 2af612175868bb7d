// The PDS's own view of every repo, record for record: what end-to-end tests
// compare the database with.
//
//   const dump = await dumpPdsRepos(pds.url)            // every repo on the PDS
//   dump.records.get('app.bsky.feed.post')?.get(uri)    // { cid, value }
//
// Uses only public, unauthenticated XRPC: com.atproto.sync.listRepos (all
// DIDs), com.atproto.repo.describeRepo (handle + collections) and
// com.atproto.repo.listRecords (paginated). Values are the raw JSON the PDS
// serves (lex-json: CID links as {"$link"}, bytes as {"$bytes"}, blobs as
// {"$type":"blob","ref":{"$link"},...}).

export type PdsRecord = { cid: string; value: unknown }

export type PdsRepoInfo = {
  did: string
  /** from describeRepo; undefined when the repo can't be described (inactive) */
  handle?: string
  handleIsCorrect?: boolean
  /** from listRepos (undefined for a requested DID that listRepos didn't list) */
  head?: string
  rev?: string
  active?: boolean
  status?: string
  collections: string[]
}

export type PdsDump = {
  /** collection → at-uri → record */
  records: Map<string, Map<string, PdsRecord>>
  /** did → handle */
  handles: Map<string, string>
  repos: PdsRepoInfo[]
  /** records per collection */
  counts: Record<string, number>
  total: number
}

export type DumpOptions = {
  /** parallel repos (default 4) */
  concurrency?: number
}

type ListReposOut = {
  cursor?: string
  repos: { did: string; head: string; rev: string; active?: boolean; status?: string }[]
}
type DescribeRepoOut = { did: string; handle: string; handleIsCorrect: boolean; collections: string[] }
type ListRecordsOut = { cursor?: string; records: { uri: string; cid: string; value: unknown }[] }

async function xrpcGet<T>(pdsUrl: string, nsid: string, params: Record<string, string | number | undefined>): Promise<T> {
  const url = new URL(`/xrpc/${nsid}`, pdsUrl)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v))
  const res = await fetch(url)
  const body = await res.text()
  if (!res.ok) {
    const err = new Error(`${nsid} ${url.search} → HTTP ${res.status}: ${body.slice(0, 300)}`)
    ;(err as Error & { status?: number }).status = res.status
    throw err
  }
  return JSON.parse(body) as T
}

/** Every repo DID hosted by the PDS (com.atproto.sync.listRepos, paginated). */
export async function listPdsRepos(pdsUrl: string): Promise<ListReposOut['repos']> {
  const out: ListReposOut['repos'] = []
  let cursor: string | undefined
  do {
    const page = await xrpcGet<ListReposOut>(pdsUrl, 'com.atproto.sync.listRepos', { limit: 1000, cursor })
    out.push(...page.repos)
    cursor = page.repos.length ? page.cursor : undefined
  } while (cursor)
  return out
}

/** Every record of one collection of one repo (com.atproto.repo.listRecords, paginated). */
export async function listAllRecords(
  pdsUrl: string,
  repo: string,
  collection: string,
): Promise<ListRecordsOut['records']> {
  const out: ListRecordsOut['records'] = []
  let cursor: string | undefined
  do {
    const page = await xrpcGet<ListRecordsOut>(pdsUrl, 'com.atproto.repo.listRecords', {
      repo,
      collection,
      limit: 100,
      cursor,
    })
    out.push(...page.records)
    cursor = page.records.length ? page.cursor : undefined
  } while (cursor)
  return out
}

/**
 * Dump the PDS's repos (all of them, or just `dids`) as
 * collection → uri → { cid, value }, plus handles per DID.
 */
export async function dumpPdsRepos(pdsUrl: string, dids?: Iterable<string>, opts: DumpOptions = {}): Promise<PdsDump> {
  const listed = await listPdsRepos(pdsUrl)
  const byDid = new Map(listed.map((r) => [r.did, r]))
  const wanted = dids ? [...new Set(dids)] : listed.map((r) => r.did)

  const repos: PdsRepoInfo[] = new Array(wanted.length)
  const perRepo: { uri: string; cid: string; value: unknown; collection: string }[][] = new Array(wanted.length)
  let next = 0
  const worker = async () => {
    while (next < wanted.length) {
      const i = next++
      const did = wanted[i]
      const l = byDid.get(did)
      const info: PdsRepoInfo = {
        did,
        head: l?.head,
        rev: l?.rev,
        active: l?.active,
        status: l?.status,
        collections: [],
      }
      repos[i] = info
      perRepo[i] = []
      let desc: DescribeRepoOut
      try {
        desc = await xrpcGet<DescribeRepoOut>(pdsUrl, 'com.atproto.repo.describeRepo', { repo: did })
      } catch (err) {
        // deactivated / taken down / deleted repos don't serve records
        if (l && l.active === false) continue
        throw err
      }
      info.handle = desc.handle
      info.handleIsCorrect = desc.handleIsCorrect
      info.collections = [...desc.collections].sort()
      for (const collection of info.collections) {
        for (const rec of await listAllRecords(pdsUrl, did, collection)) {
          perRepo[i].push({ ...rec, collection })
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker))

  const records = new Map<string, Map<string, PdsRecord>>()
  const handles = new Map<string, string>()
  let total = 0
  for (let i = 0; i < wanted.length; i++) {
    if (repos[i].handle) handles.set(repos[i].did, repos[i].handle!)
    for (const r of perRepo[i]) {
      let m = records.get(r.collection)
      if (!m) records.set(r.collection, (m = new Map()))
      m.set(r.uri, { cid: r.cid, value: r.value })
      total++
    }
  }
  const counts: Record<string, number> = {}
  for (const [c, m] of records) counts[c] = m.size
  return { records, handles, repos, counts, total }
}

/** One dump of several PDSes (their DIDs are distinct): what a network-wide backfill should end with. */
export function mergeDumps(dumps: readonly PdsDump[]): PdsDump {
  const records = new Map<string, Map<string, PdsRecord>>()
  for (const d of dumps) {
    for (const [collection, byUri] of d.records) records.set(collection, new Map([...(records.get(collection) ?? []), ...byUri]))
  }
  const counts: Record<string, number> = {}
  for (const [c, m] of records) counts[c] = m.size
  return {
    records,
    handles: new Map(dumps.flatMap((d) => [...d.handles])),
    repos: dumps.flatMap((d) => d.repos),
    counts,
    total: dumps.reduce((n, d) => n + d.total, 0),
  }
}
