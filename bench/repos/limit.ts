// What this machine can do at all on a repo workload, each part alone: the CAR walk (server/repos/repo-car.ts over
// the cached CARs, from memory, no database, one thread as in the server) and the row writes (the walk's own
// chunks, already walked, through the server's BatchWriter into a fresh database, as many at once as the profile's
// BACKFILL_MAX_CONCURRENT). limit = 1 / (1/walk + 1/write): the rate if the machine only walked and wrote.
//
// The walk and the writes take turns over groups of repositories, so no more than a group's items are held at once;
// only the walking is timed as walk and only the writing as write. The writes are the chunks a repo worker sends
// (one repository's records, at most `batchSize` to a chunk); the job bookkeeping a worker adds to a repository's
// last chunk (markDone, positions) and the resync's delete lookup are not in it.
import os from 'node:os'
import type { PipelineItem } from '../../server/events/index.js'
import { createPool } from '../../server/db/pools.js'
import { migrate } from '../../server/db/migrate.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { openRepoCar } from '../../server/repos/repo-car.js'
import { treeCpuSeconds } from '../run/proc.js'
import type { RepoWorkload } from './store.js'

export type RepoLimit = {
  records: number
  repos: number
  walkSeconds: number
  writeSeconds: number
  walkPerSecond: number
  writePerSecond: number
  /** Per CPU-second, for a machine shared with other work: the walk's own CPU; the writes' JS and Postgres's CPU. */
  walkPerCpuSecond: number
  writePerCpuSecond: number | null
  /** 1 / (1/walk + 1/write) */
  recordsPerSecond: number
  /** The same over the per-CPU-second rates: what a CPU-second of this machine buys, however busy it is. */
  recordsPerCpuSecond: number | null
  /** Rows the writes left in the record tables: must equal `records`. */
  rowsWritten: number
}

export type LimitOptions = {
  databaseUrl: string
  batchSize: number
  maxConcurrent: number
  /** The server's spill threshold (repo-deps.ts), so a big repository is walked from a temp file there too. */
  spillAboveBytes: number
  /** Records walked before they are written. */
  groupRecords?: number
  recordTables: readonly string[]
  /** The cluster's postmaster, whose backends' CPU the writes cost; null: not counted. */
  postmasterPid: number | null
}

const DEFAULT_GROUP_RECORDS = 50_000

export async function measureRepoLimit(workload: RepoWorkload, opts: LimitOptions): Promise<RepoLimit> {
  const pool = createPool(opts.databaseUrl, 'backfill', opts.maxConcurrent)
  try {
    await migrate(pool)
    const writer = new BatchWriter(pool, 'repos', ACCOUNT_ROW_LOCKS)
    let walkMs = 0
    let writeMs = 0
    let walkCpuS = 0
    let writeCpuS = 0
    let postgresCpuS: number | null = opts.postmasterPid === null ? null : 0
    let records = 0
    const time = new Date().toISOString()
    const repos = workload.manifest.repos
    for (let next = 0; next < repos.length; ) {
      const chunks: PipelineItem[][] = []
      let grouped = 0
      while (next < repos.length && grouped < (opts.groupRecords ?? DEFAULT_GROUP_RECORDS)) {
        const repo = repos[next++]
        const bytes = await workload.car(repo)
        const started = performance.now()
        const cpu = process.cpuUsage()
        const car = await openRepoCar(once(bytes), {
          did: repo.did,
          maxCarBytes: bytes.length,
          spillDir: os.tmpdir(),
          spillAboveBytes: opts.spillAboveBytes,
          verifyKey: null,
          partial: false,
        })
        try {
          for await (const chunk of car.walk({ time, chunkRecords: opts.batchSize })) {
            chunks.push(chunk)
            grouped += chunk.filter((i) => i.kind === 'create').length
          }
        } finally {
          await car.close()
        }
        walkMs += performance.now() - started
        walkCpuS += cpuSince(cpu)
      }
      records += grouped
      const started = performance.now()
      const cpu = process.cpuUsage()
      const pg0 = opts.postmasterPid === null ? null : treeCpuSeconds(opts.postmasterPid)
      await Promise.all(Array.from({ length: opts.maxConcurrent }, async () => {
        for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) await writer.write(chunk, null, null)
      }))
      writeMs += performance.now() - started
      writeCpuS += cpuSince(cpu)
      const pg1 = opts.postmasterPid === null ? null : treeCpuSeconds(opts.postmasterPid)
      postgresCpuS = postgresCpuS !== null && pg0 !== null && pg1 !== null ? postgresCpuS + pg1 - pg0 : null
    }
    const rowsWritten = await countRows(pool, opts.recordTables)
    const walkPerSecond = records / (walkMs / 1000)
    const writePerSecond = records / (writeMs / 1000)
    const walkPerCpuSecond = records / walkCpuS
    const writePerCpuSecond = postgresCpuS === null ? null : records / (writeCpuS + postgresCpuS)
    return {
      records,
      repos: repos.length,
      walkSeconds: round(walkMs / 1000, 2),
      writeSeconds: round(writeMs / 1000, 2),
      walkPerSecond: Math.round(walkPerSecond),
      writePerSecond: Math.round(writePerSecond),
      walkPerCpuSecond: Math.round(walkPerCpuSecond),
      writePerCpuSecond: writePerCpuSecond === null ? null : Math.round(writePerCpuSecond),
      recordsPerSecond: Math.round(1 / (1 / walkPerSecond + 1 / writePerSecond)),
      recordsPerCpuSecond: writePerCpuSecond === null ? null : Math.round(1 / (1 / walkPerCpuSecond + 1 / writePerCpuSecond)),
      rowsWritten,
    }
  } finally {
    await pool.end()
  }
}

/** Rows in the record tables now. */
export async function countRows(pool: { query(sql: string): Promise<{ rows: { n: number }[] }> }, tables: readonly string[]): Promise<number> {
  const sql = `SELECT (${tables.map((t) => `(SELECT count(*) FROM ${t})`).join(' + ')})::int AS n`
  return (await pool.query(sql)).rows[0].n
}

const cpuSince = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1e6
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits
