// Compares the indexed database with the PDS's own repos, record for record.
import type pg from 'pg'
import { expect } from 'vitest'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'
import type { PdsDump } from '../harness/pds-repos.js'

export type Mismatch = { collection: string; missing: string[]; extra: string[]; wrongCid: string[] }

/** Rows per collection as uri → cid. */
export async function indexedRecords(pool: pg.Pool): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>()
  for (const module of RECORD_MODULES) {
    const { rows } = await pool.query<{ uri: string; cid: string }>(`SELECT uri, cid FROM ${module.table}`)
    out.set(module.collection, new Map(rows.map((r) => [r.uri, r.cid])))
  }
  return out
}

export async function compareWithPds(pool: pg.Pool, dump: PdsDump): Promise<Mismatch[]> {
  const indexed = await indexedRecords(pool)
  const mismatches: Mismatch[] = []
  for (const module of RECORD_MODULES) {
    const ours = indexed.get(module.collection)!
    const theirs = dump.records.get(module.collection) ?? new Map()
    const missing = [...theirs.keys()].filter((uri) => !ours.has(uri))
    const extra = [...ours.keys()].filter((uri) => !theirs.has(uri))
    const wrongCid = [...theirs.entries()].filter(([uri, r]) => ours.has(uri) && ours.get(uri) !== r.cid).map(([uri]) => uri)
    if (missing.length || extra.length || wrongCid.length) mismatches.push({ collection: module.collection, missing, extra, wrongCid })
  }
  return mismatches
}

/** The database holds exactly the PDS's records (same URIs, same CIDs, same record JSON where we keep it) and handles. */
export async function expectDatabaseEqualsPds(pool: pg.Pool, dump: PdsDump): Promise<void> {
  expect(await compareWithPds(pool, dump)).toEqual([])
  const total = [...(await indexedRecords(pool)).values()].reduce((n, m) => n + m.size, 0)
  const expectedTotal = RECORD_MODULES.reduce((n, m) => n + (dump.records.get(m.collection)?.size ?? 0), 0)
  expect(total).toBe(expectedTotal)
  expect(total).toBeGreaterThan(0)
  for (const table of ['posts', 'profiles', 'lists']) {
    const module = RECORD_MODULES.find((m) => m.table === table)!
    const { rows } = await pool.query<{ uri: string; record: unknown }>(`SELECT uri, record FROM ${table}`)
    for (const row of rows) expect(row.record).toEqual(dump.records.get(module.collection)!.get(row.uri)!.value)
  }
  const { rows } = await pool.query<{ did: string; handle: string | null }>('SELECT did, handle FROM actors')
  const handles = new Map(rows.map((r) => [r.did, r.handle]))
  for (const [did, handle] of dump.handles) expect(handles.get(did)).toBe(handle)
}
