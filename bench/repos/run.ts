// The repo backfill bench: the limit first (walk alone, writes alone, bench/repos/limit.ts), then the server as a
// child process backfilling every repository of the workload from the bench's repository network
// (BACKFILL_DAYS=all, FIREHOSE_ENABLED=false, the relay, PLC and handle resolver at the source), once per profile:
// `max` to the end of the workload, `background` and `adaptive` over a window. Records/s are rows in the record
// tables over time; beside them CPU, peak RSS and the API's p99 under the same steady load as the replay modes.
//
// Host limits: every DID document and handle check goes to one directory host, and skyfill's defaults
// (BACKFILL_HOST_RATE=5, BACKFILL_PLC_RATE = the host rate) would cap the whole run at 2.5 repositories/s there.
// The bench raises BACKFILL_HOST_RATE and BACKFILL_PLC_RATE in every run (hostLimitEnv below) and serves the
// repositories from several PDS ports (hosts), so what is measured is the server's own work and its profile.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'
import { PROFILES } from '../../server/config/profiles.js'
import { SPILL_ABOVE_BYTES } from '../../server/services/backfill/repo-deps.js'
import { ApiLoad, type EndpointResult } from '../run/load.js'
import { CONFIGS } from '../run/modes.js'
import { cpuBetween, cpuSnapshot, getJson, RssSampler, type CpuUse } from '../run/measure.js'
import { DB_PREFIX, freePort, type BenchCluster } from '../run/postgres.js'
import { spawnServer, type ServerChild } from '../run/server-child.js'
import { countRows, measureRepoLimit, type RepoLimit } from './limit.js'
import { startRepoSource, type RepoSource } from './server.js'
import { FULL_REPOS, QUICK_REPOS, type RepoWorkloadParams } from './sizes.js'
import { openOrBuildRepoWorkload, type RepoWorkload } from './store.js'

export const REPO_PROFILES = ['max', 'background', 'adaptive'] as const
export type RepoProfile = (typeof REPO_PROFILES)[number]

export type RepoRunConfig = {
  workload: RepoWorkloadParams
  pdsPorts: number
  /** Seconds of measurement for the windowed profiles, after `warmupS` from the first row. */
  windowS: number
  warmupS: number
  /** At most this long for `max` to backfill everything. */
  maxRunCapS: number
  apiRatePerSec: number
  sampleEveryMs: number
  /** The replay modes' adaptive budget, so both parts measure the same profile. */
  adaptive: { maxCpuPercent: number; maxLagMs: number }
  /** What the repo part adds to the bench's time bound (the workload's one-off build excluded). */
  deadlineS: number
}

export const REPO_CONFIGS: Record<'full' | 'quick', RepoRunConfig> = {
  full: { workload: FULL_REPOS, pdsPorts: 8, windowS: 60, warmupS: 10, maxRunCapS: 40 * 60, apiRatePerSec: 10, sampleEveryMs: 2000, adaptive: CONFIGS.full.adaptive, deadlineS: 60 * 60 },
  quick: { workload: QUICK_REPOS, pdsPorts: 8, windowS: 10, warmupS: 3, maxRunCapS: 180, apiRatePerSec: 10, sampleEveryMs: 1000, adaptive: CONFIGS.quick.adaptive, deadlineS: 420 },
}

export type RepoProfileResult = {
  profile: RepoProfile
  /** The whole workload (max), or a window (the throttled profiles). */
  span: 'to-the-end' | 'window'
  completed: boolean
  seconds: number
  /** Rows written in the span: from its first sample (rows written before it, during the warm-up or before the first
   *  sample of `max`, are not in it), so that rowsWritten / seconds is recordsPerSecond. */
  rowsWritten: number
  recordsPerSecond: number
  recordsPerCpuSecond: number | null
  /** Records per CPU-second of the server and Postgres together: comparable with the limit's recordsPerCpuSecond. */
  recordsPerCpuSecondWithPostgres: number | null
  cpu: CpuUse
  /** From the first row written; the locating of the (empty) replay window and the listing come before. */
  firstRowAfterS: number | null
  peakRssMb: number | null
  maxSampledRssMb: number
  apiP99Ms: number | null
  api: EndpointResult[]
  /** When 90% of the rows were in, seconds since the first row: what comes after is the tail of the largest repositories. */
  rows90AfterS: number | null
  /** Rows in the record tables, seconds since the first row. */
  series: { s: number; rows: number }[]
  logFile: string
}

export type RepoBenchResult = {
  workload: { dir: string; repos: number; records: number; bytes: number; largestRepo: number; medianRepo: number; generationMs: number; counts: Record<string, number> }
  hostLimits: Record<string, string>
  pdsHosts: number
  limit: Omit<RepoLimit, 'records' | 'repos'>
  /** max's records/s, and max's records/s over the limit. */
  recordsPerSecond: number
  fractionOfLimit: number
  /** max's records per CPU-second (server and Postgres) over the limit's: the same ratio, less the machine's other load. */
  fractionOfLimitPerCpu: number | null
  peakRssMb: number | null
  apiP99Ms: number | null
  profiles: RepoProfileResult[]
}

export type RepoBenchContext = {
  variant: 'full' | 'quick'
  cluster: BenchCluster
  outDir: string
  emptyEnvFile: string
  profiles?: readonly RepoProfile[]
  /** Extra server variables for every profile (experiments); they override the bench's own. */
  extraEnv?: Record<string, string>
  say: (line: string) => void
  setPhase: (phase: string) => void
  track: (server: ServerChild | null) => void
}

const RECORD_TABLES = RECORD_MODULES.map((m) => m.table)
const STARTUP_TIMEOUT_MS = 90_000
const FIRST_ROW_TIMEOUT_MS = 120_000
const LISTENING = /^\[SERVER\] listening on (http:\/\/\S+)/
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits

/** Raised for the bench: one directory host would otherwise pace every repository (see the header). */
export const hostLimitEnv = (): Record<string, string> => ({ BACKFILL_HOST_RATE: '1000', BACKFILL_PLC_RATE: '10000' })

/** The server's variables for a whole-repository backfill from the bench's repository network. */
export function repoServerEnv(source: Pick<RepoSource, 'url'>, databaseUrl: string, port: number, profile: RepoProfile): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    RELAY_URL: source.url,
    PLC_URL: source.url,
    HANDLE_RESOLVER_URL: source.url,
    ALLOW_PRIVATE_HOSTS: 'true',
    FIREHOSE_ENABLED: 'false',
    BACKFILL_DAYS: 'all',
    BACKFILL_PROFILE: profile,
    ...hostLimitEnv(),
  }
}

export async function openRepoBenchWorkload(variant: 'full' | 'quick', say: (line: string) => void): Promise<RepoWorkload> {
  let last = 0
  return openOrBuildRepoWorkload(REPO_CONFIGS[variant].workload, {
    onProgress: (built, total) => {
      if (performance.now() - last < 10_000) return
      last = performance.now()
      say(`building the repo workload: ${built}/${total} repositories (cached in bench/out/synthetic afterwards)`)
    },
  })
}

export async function runRepoBench(ctx: RepoBenchContext, workload: RepoWorkload): Promise<RepoBenchResult> {
  const config = REPO_CONFIGS[ctx.variant]
  const m = workload.manifest
  const sizes = m.repos.map((r) => r.records).sort((a, b) => a - b)
  ctx.say(`repos: ${m.repos.length} repositories, ${m.records} records, ${(m.bytes / 1e6).toFixed(0)} MB of CARs, largest ${sizes.at(-1)}`)

  ctx.setPhase('repos: the limit (walk alone, writes alone)')
  const limitDb = `${DB_PREFIX}repos_limit`
  const limit = await measureRepoLimit(workload, {
    databaseUrl: await ctx.cluster.createDatabase(limitDb),
    batchSize: PROFILES.max.batchSize,
    maxConcurrent: PROFILES.max.maxConcurrent,
    spillAboveBytes: SPILL_ABOVE_BYTES,
    recordTables: RECORD_TABLES,
    postmasterPid: ctx.cluster.postmasterPid(),
  })
  await ctx.cluster.dropDatabase(limitDb)
  if (limit.rowsWritten !== m.records) throw new Error(`the write-alone pass left ${limit.rowsWritten} rows for ${m.records} records`)
  ctx.say(
    `  repos limit: walk ${limit.walkPerSecond} records/s (${limit.walkPerCpuSecond}/CPU-s), write ${limit.writePerSecond} records/s ` +
      `(${limit.writePerCpuSecond ?? '?'}/CPU-s with Postgres's), limit ${limit.recordsPerSecond} records/s`,
  )

  const source = await startRepoSource(workload, { pdsPorts: config.pdsPorts })
  const profiles: RepoProfileResult[] = []
  try {
    for (const profile of ctx.profiles ?? REPO_PROFILES) profiles.push(await runProfile(ctx, config, workload, source, profile))
  } finally {
    await source.close()
  }
  const max = profiles.find((p) => p.profile === 'max')
  return {
    workload: {
      dir: path.relative(process.cwd(), workload.dir),
      repos: m.repos.length,
      records: m.records,
      bytes: m.bytes,
      largestRepo: sizes.at(-1) ?? 0,
      medianRepo: sizes[Math.floor(sizes.length / 2)] ?? 0,
      generationMs: m.generationMs,
      counts: m.counts,
    },
    hostLimits: hostLimitEnv(),
    pdsHosts: config.pdsPorts,
    limit: (({ records: _r, repos: _n, ...figures }) => figures)(limit),
    recordsPerSecond: max?.recordsPerSecond ?? 0,
    fractionOfLimit: max ? round(max.recordsPerSecond / limit.recordsPerSecond, 3) : 0,
    fractionOfLimitPerCpu:
      max?.recordsPerCpuSecondWithPostgres && limit.recordsPerCpuSecond ? round(max.recordsPerCpuSecondWithPostgres / limit.recordsPerCpuSecond, 3) : null,
    peakRssMb: max?.peakRssMb ?? null,
    apiP99Ms: max?.apiP99Ms ?? null,
    profiles,
  }
}

type BackfillView = { state: string; error: string | null; repos: { jobs: { total: number; done: number }; listing: { done: boolean } } | null }

async function runProfile(ctx: RepoBenchContext, config: RepoRunConfig, workload: RepoWorkload, source: RepoSource, profile: RepoProfile): Promise<RepoProfileResult> {
  const database = `${DB_PREFIX}repos_${profile}`
  const dbUrl = await ctx.cluster.createDatabase(database)
  const logFile = path.join(ctx.outDir, 'logs', `repos-${profile}.log`)
  await mkdir(path.dirname(logFile), { recursive: true })
  const env: Record<string, string> = {
    ...repoServerEnv(source, dbUrl, await freePort(), profile),
    DOTENV_CONFIG_PATH: ctx.emptyEnvFile,
    DOTENV_CONFIG_QUIET: 'true',
  }
  if (profile === 'adaptive') {
    env.BACKFILL_MAX_CPU_PERCENT = String(config.adaptive.maxCpuPercent)
    env.BACKFILL_MAX_LAG_MS = String(config.adaptive.maxLagMs)
  }
  Object.assign(env, ctx.extraEnv)
  ctx.setPhase(`repos ${profile}: starting the server`)
  ctx.say(`repos ${profile}: BACKFILL_DAYS=all BACKFILL_PROFILE=${profile} over ${source.pdsUrls.length} PDS hosts`)
  const spawnedAt = performance.now()
  const server = spawnServer(env, logFile)
  ctx.track(server)
  const rss = new RssSampler(server.pid).start()
  const pool = new pg.Pool({ connectionString: dbUrl, max: 1, application_name: 'skyfill-bench' })
  let load: ApiLoad | null = null
  try {
    const [, url] = await server.waitForLine(LISTENING, STARTUP_TIMEOUT_MS)
    const did = workload.manifest.repos[0].did
    load = new ApiLoad(url, [
      { name: 'GET /api/stats', path: '/api/stats' },
      { name: 'getProfile', path: `/xrpc/app.bsky.actor.getProfile?actor=${encodeURIComponent(did)}` },
    ], { ratePerSec: config.apiRatePerSec })
    load.start()

    ctx.setPhase(`repos ${profile}: waiting for the first row`)
    const rowsNow = () => countRows(pool, RECORD_TABLES)
    const deadline = performance.now() + FIRST_ROW_TIMEOUT_MS
    let rows = 0
    while ((rows = await rowsNow()) === 0) {
      await check(server, url, 'the first row')
      if (performance.now() > deadline) throw new Error(`repos ${profile}: no row within ${FIRST_ROW_TIMEOUT_MS / 1000} s; server output:\n${server.tail()}`)
      await sleep(200)
    }
    const firstRowAfterS = round((performance.now() - spawnedAt) / 1000, 2)
    const toTheEnd = profile === 'max'
    if (!toTheEnd) {
      ctx.setPhase(`repos ${profile}: warm-up`)
      await sleep(config.warmupS * 1000)
      rows = await rowsNow()
    }
    ctx.setPhase(`repos ${profile}: measuring`)
    const c0 = cpuSnapshot([server.pid], ctx.cluster.postmasterPid())
    const rows0 = rows
    const t0 = performance.now()
    const series = [{ s: 0, rows }]
    load.beginWindow()
    const end = t0 + (toTheEnd ? config.maxRunCapS : config.windowS) * 1000
    let completed = false
    let lastSay = performance.now()
    while (performance.now() < end) {
      await sleep(Math.min(config.sampleEveryMs, Math.max(0, end - performance.now())))
      const view = await check(server, url, 'the repositories')
      series.push({ s: round((performance.now() - t0) / 1000, 2), rows: await rowsNow() })
      if (toTheEnd && view.state === 'complete') {
        completed = true
        break
      }
      if (performance.now() - lastSay > 15_000) {
        lastSay = performance.now()
        ctx.say(`  repos ${profile}: ${series.at(-1)!.rows}/${workload.manifest.records} rows, ${view.repos?.jobs.done ?? 0}/${view.repos?.jobs.total ?? 0} repositories, RSS ${Math.round(rss.maxRssMb)} MB max`)
      }
    }
    const c1 = cpuSnapshot([server.pid], ctx.cluster.postmasterPid())
    const rows1 = await rowsNow()
    const api = await load.endWindow()
    const cpu = cpuBetween(c0, c1)
    rss.sample()
    const hwm = rss.hwmMb()
    const written = rows1 - rows0
    if (completed && rows1 !== workload.manifest.records) {
      throw new Error(`repos ${profile}: the backfill completed with ${rows1} rows for ${workload.manifest.records} records; server output:\n${server.tail()}`)
    }
    const p99s = api.map((e) => e.p99Ms).filter((v): v is number => v !== null)
    const result: RepoProfileResult = {
      profile,
      span: toTheEnd ? 'to-the-end' : 'window',
      completed,
      seconds: cpu.wallSeconds,
      rowsWritten: written,
      recordsPerSecond: round(written / cpu.wallSeconds),
      recordsPerCpuSecond: cpu.serverCpuSeconds > 0 ? Math.round(written / cpu.serverCpuSeconds) : null,
      recordsPerCpuSecondWithPostgres:
        cpu.postgresCpuPercent === null ? null : Math.round(written / (cpu.serverCpuSeconds + (cpu.postgresCpuPercent / 100) * cpu.wallSeconds)),
      cpu,
      firstRowAfterS,
      peakRssMb: hwm === null ? null : round(hwm),
      maxSampledRssMb: round(rss.maxRssMb),
      apiP99Ms: p99s.length ? Math.max(...p99s) : null,
      api,
      rows90AfterS: series.find((x) => x.rows >= 0.9 * workload.manifest.records)?.s ?? null,
      series,
      logFile: path.relative(process.cwd(), logFile),
    }
    ctx.say(
      `  repos ${profile}: ${result.recordsPerSecond} records/s, ${result.recordsPerCpuSecond ?? '?'} per CPU-s, server CPU ${cpu.serverCpuPercent}%, ` +
        `Postgres ${cpu.postgresCpuPercent ?? '?'}%, peak RSS ${result.peakRssMb} MB, API p99 ${result.apiP99Ms} ms over ${cpu.wallSeconds} s` +
        `${toTheEnd ? (completed ? ' (all records)' : ' (stopped at the cap)') : ''}`,
    )
    return result
  } finally {
    rss.stop()
    await load?.stop()
    await pool.end()
    await server.stop()
    ctx.track(null)
    await ctx.cluster.dropDatabase(database)
  }
}

async function check(server: ServerChild, url: string, what: string): Promise<BackfillView> {
  if (!server.isRunning()) throw new Error(`the server exited while waiting for ${what}; its last output:\n${server.tail()}`)
  const view = await getJson<BackfillView>(`${url}/api/backfill`)
  if (view.state === 'failed') throw new Error(`the backfill failed while waiting for ${what}: ${view.error}; server output:\n${server.tail()}`)
  return view
}
