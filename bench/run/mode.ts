// Runs one mode: a fresh database, the synthetic source, the server as a child process (two for `max-x2`, sharing
// the database), a steady API load on the first; then a warm-up and a measurement window, and for `max` (when asked)
// the rest of the workload. A timeline of the whole mode is sampled every second for its picture.
import { mkdir, readdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ThrottleSettings } from '../../server/config/profiles.js'
import { startPlcStub } from '../peer/plc-stub.js'
import type { WorkloadStore } from '../source/store.js'
import { ApiLoad, type EndpointResult } from './load.js'
import { cpuBetween, cpuSnapshot, DbSampler, getJson, LiveStream, RssSampler, type ConnectionStats, type CpuUse, type Progress } from './measure.js'
import { decoderOf, instancesOf, mayComplete, nominalRate, profileOf, settingsOf, type ModeName, type RunConfig } from './modes.js'
import { DB_PREFIX, freePort, type BenchCluster } from './postgres.js'
import { summariseProfile, type ProfileSummary } from './profile.js'
import { spawnServer, type ServerChild } from './server-child.js'
import { startSource, type SourceHandle } from './source.js'
import { TimelineSampler, type Timeline } from './timeline.js'

export type ModeResult = {
  mode: ModeName
  /** Server processes sharing the mode's database (absent in results written before max-x2: 1). */
  instances?: number
  settings: ThrottleSettings | null
  /** batchSize per batchDelayMs, for the static profiles. */
  nominalEventsPerSecond: number | null
  database: { name: string; copiedFrom: string | null; seededEvents: number | null }
  startup: { listeningAfterS: number; firstCommitAfterS: number | null }
  window: {
    seconds: number
    /** The workload ran out before the window's end, which then ended early. */
    endedAtWorkloadEnd: boolean
    eventsProcessed: number
    eventsPerSecond: number
    /** Record rows upserted or deleted over the window (absent in results written before it was measured). */
    recordsWritten?: number
    recordsPerSecond?: number
    eventsPerCpuSecond: number | null
    cpu: CpuUse
    /** Event-loop delay p99 of each second of the window, as the server measured it (/api/live). */
    loopDelayP99Ms: { mean: number | null; median: number | null; max: number | null; samples: number }
    /** The server's own CPU figure, mean over the window's seconds (as the adaptive governor sees it). */
    selfReportedCpuPercent: number | null
    throttleAtEnd: string | null
  }
  memory: { vmHwmMb: number | null; maxSampledRssMb: number; limitMb: number | null; maxHeapUsedMb: number }
  dbConnections: ConnectionStats & { limit: number | null; highWater: number | null }
  api: EndpointResult[]
  failedRequests: number
  wholeRun: {
    completed: boolean
    events: number
    seconds: number
    eventsPerSecond: number
    cpuSeconds: number
    eventsPerCpuSecond: number | null
    serverCpuPercent: number
    vmHwmMb: number | null
    maxSampledRssMb: number
    maxHeapUsedMb: number
    /**
     * The same API load once the backfill has completed, on the same server and database: what the reads cost on
     * this much data without a backfill running, to tell the backfill's interference from the database's growth.
     */
    afterComplete: { seconds: number; api: EndpointResult[]; loopDelayP99Ms: { mean: number | null; max: number | null }; serverCpuPercent: number } | null
  } | null
  loadAverageAtStart: number[]
  profile: ProfileSummary | null
  logFile: string
  /** Every second of the mode, from the spawn to the stop (absent in results written before it was sampled). */
  timeline?: Timeline | null
}

export type ModeContext = {
  config: RunConfig
  cluster: BenchCluster
  store: WorkloadStore
  /** The database of the mode run just before, which `idle` copies. */
  previousDatabase: string | null
  outDir: string
  emptyEnvFile: string
  cpuProfile: boolean
  /** Connect the server straight to the synthetic server, without the front relay (slower to locate; a check). */
  directSource: boolean
  /** Extra variables for the server (experiments); they override the bench's own. */
  extraEnv: Record<string, string>
  /** Status lines for the operator. */
  say: (line: string) => void
  /** The phase, for the timeout message. */
  setPhase: (phase: string) => void
  /** The source and servers currently running, so an interrupt can close them. */
  track: (source: SourceHandle | null, servers: ServerChild[]) => void
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits
const LISTENING = /^\[SERVER\] listening on (http:\/\/\S+)/
const STARTUP_TIMEOUT_MS = 90_000
const FIRST_COMMIT_TIMEOUT_MS = 120_000

function serverEnv(ctx: ModeContext, mode: ModeName, dbUrl: string, port: number, relay: string, plc: string, profile = profileOf(mode) ?? 'idle') {
  const env: Record<string, string> = {
    DATABASE_URL: dbUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    RELAY_URL: relay,
    PLC_URL: plc,
    FIREHOSE_ENABLED: 'false',
    BACKFILL_DAYS: mode === 'idle' ? '0' : '-1',
    // dotenv must not bring a developer's .env into the measurement.
    DOTENV_CONFIG_PATH: ctx.emptyEnvFile,
    DOTENV_CONFIG_QUIET: 'true',
  }
  if (profile !== 'idle') env.BACKFILL_PROFILE = profile
  const decoder = decoderOf(mode)
  if (decoder) env.BACKFILL_DECODER = decoder
  Object.assign(env, ctx.extraEnv)
  if (profile === 'adaptive') {
    env.BACKFILL_MAX_CPU_PERCENT = String(ctx.config.adaptive.maxCpuPercent)
    env.BACKFILL_MAX_LAG_MS = String(ctx.config.adaptive.maxLagMs)
  }
  return env
}

type Instances = { servers: ServerChild[]; urls: string[] }

/**
 * The instances' /api/backfill as one: counts and rates summed (each instance counts what it wrote itself), failed
 * when any failed, complete when all are; the rest is the first instance's.
 */
export function combineProgress(each: readonly Progress[]): Progress {
  const first = each[0]
  if (!first) throw new Error('combineProgress: no instance to combine')
  const counts = { ...first.counts }
  for (const p of each.slice(1)) for (const k of Object.keys(counts) as (keyof Progress['counts'])[]) counts[k] += p.counts[k]
  const failed = each.find((p) => p.state === 'failed')
  const state = failed ? 'failed' : each.every((p) => p.state === 'complete') ? 'complete' : (each.find((p) => p.state !== 'complete') ?? first).state
  return { ...first, state, counts, error: failed?.error ?? first.error, eventsPerSecond: each.reduce((n, p) => n + p.eventsPerSecond, 0) }
}

async function progressOf(group: Instances): Promise<Progress> {
  return combineProgress(await Promise.all(group.urls.map((url) => getJson<Progress>(`${url}/api/backfill`))))
}

function assertRunning(group: Instances, what: string): void {
  const dead = group.servers.find((s) => !s.isRunning())
  if (dead) throw new Error(`a server exited ${what}; its last output:\n${dead.tail()}`)
}

const tails = (group: Instances) => group.servers.map((s) => s.tail()).join('\n---\n')

/** Polls /api/backfill until `done` says so; fails on a failed backfill, a dead server or the timeout. */
async function waitForProgress(group: Instances, done: (p: Progress) => boolean, timeoutMs: number, what: string, everyMs = 100): Promise<Progress> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    assertRunning(group, `while waiting for ${what}`)
    const p = await progressOf(group)
    if (p.state === 'failed') throw new Error(`the backfill failed while waiting for ${what}: ${p.error}; server output:\n${tails(group)}`)
    if (done(p)) return p
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (state ${p.state}, processed ${p.counts.processed}); server output:\n${tails(group)}`)
    await sleep(everyMs)
  }
}

/** Fills a fresh database for `idle` by backfilling the workload's first events with the max profile. */
async function seedDatabase(ctx: ModeContext, dbUrl: string, events: number): Promise<void> {
  ctx.setPhase('idle: seeding its database')
  const source = await startSource(ctx.store.path, events)
  ctx.track(source, [])
  const port = await freePort()
  const server = spawnServer(serverEnv(ctx, 'max', dbUrl, port, source.url, source.url.replace(/^ws/, 'http'), 'max'), path.join(ctx.outDir, 'logs', 'idle-seed.log'))
  ctx.track(source, [server])
  try {
    const [, url] = await server.waitForLine(LISTENING, STARTUP_TIMEOUT_MS)
    await waitForProgress({ servers: [server], urls: [url] }, (p) => p.state === 'complete', 300_000, `the seeding of ${events} events`, 250)
  } finally {
    await server.stop()
    await source.close()
    ctx.track(null, [])
  }
}

export async function runMode(ctx: ModeContext, mode: ModeName): Promise<ModeResult> {
  const { config, cluster, store } = ctx
  const settings = settingsOf(mode)
  const database = `${DB_PREFIX}${mode.replace(/-/g, '_')}`
  const instances = instancesOf(mode)
  const logFile = path.join(ctx.outDir, 'logs', `${mode}.log`)
  await mkdir(path.dirname(logFile), { recursive: true })

  ctx.setPhase(`${mode}: creating its database`)
  const copiedFrom = mode === 'idle' ? ctx.previousDatabase : null
  const dbUrl = await cluster.createDatabase(database, copiedFrom ?? undefined)
  let seededEvents: number | null = null
  if (mode === 'idle' && !copiedFrom) {
    seededEvents = Math.min(config.idleSeedEvents, store.headSeq)
    ctx.say(`  seeding the idle database with the first ${seededEvents} events`)
    await seedDatabase(ctx, dbUrl, seededEvents)
  }

  const source = mode === 'idle' ? null : await startSource(store.path, undefined, ctx.directSource)
  const relay = source?.url ?? 'ws://127.0.0.1:9'
  // The verified decoder needs each account's DID document (its signing key); the others resolve nothing.
  const directory = decoderOf(mode) === 'verified' ? await startPlcStub(store.manifest.accounts) : null
  const plc = directory?.url ?? (source ? source.url.replace(/^ws/, 'http') : 'http://127.0.0.1:9')
  let profileDir: string | null = null
  const nodeArgs: string[] = []
  if (ctx.cpuProfile && mode === 'max') {
    profileDir = path.join(ctx.outDir, 'profiles', `${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
    await mkdir(profileDir, { recursive: true })
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`)
  }

  ctx.setPhase(`${mode}: starting the server`)
  const loadAverageAtStart = os.loadavg().map((v) => round(v, 2))
  const spawnedAt = performance.now()
  const servers: ServerChild[] = []
  for (let i = 0; i < instances; i++) {
    const log = i === 0 ? logFile : logFile.replace(/\.log$/, `-${i + 1}.log`)
    servers.push(spawnServer(serverEnv(ctx, mode, dbUrl, await freePort(), relay, plc), log, nodeArgs))
  }
  const pids = servers.map((s) => s.pid)
  ctx.track(source, servers)
  const rss = servers.map((s) => new RssSampler(s.pid).start())
  let live: LiveStream | null = null
  let load: ApiLoad | null = null
  let timeline: TimelineSampler | null = null
  const db = new DbSampler(cluster.adminUrl, database).start()
  try {
    const urls: string[] = []
    for (const s of servers) urls.push((await s.waitForLine(LISTENING, STARTUP_TIMEOUT_MS))[1])
    const url = urls[0]
    const group: Instances = { servers, urls }
    const listeningAfterS = round((performance.now() - spawnedAt) / 1000, 2)
    timeline = new TimelineSampler(pids, urls, spawnedAt).start()
    live = new LiveStream(url).open()
    const did = store.manifest.accounts[0]?.did
    if (!did) throw new Error(`the workload ${store.path} names no accounts`)
    load = new ApiLoad(
      url,
      [
        { name: 'GET /api/stats', path: '/api/stats' },
        { name: 'getProfile', path: `/xrpc/app.bsky.actor.getProfile?actor=${encodeURIComponent(did)}` },
      ],
      { ratePerSec: config.apiRatePerSec },
    )

    let firstCommitAfterS: number | null = null
    let runStart: { cpu: ReturnType<typeof cpuSnapshot>; processed: number } | null = null
    if (mode !== 'idle') {
      ctx.setPhase(`${mode}: locating the window and waiting for the first commit`)
      const first = await waitForProgress(group, (p) => p.counts.processed > 0, FIRST_COMMIT_TIMEOUT_MS, 'the first committed batch')
      runStart = { cpu: cpuSnapshot(pids, cluster.postmasterPid()), processed: first.counts.processed }
      firstCommitAfterS = round((performance.now() - spawnedAt) / 1000, 2)
    }
    // The API load runs through the warm-up too (JIT, connection pools), but only the window's requests count.
    load.start()
    ctx.setPhase(`${mode}: warm-up`)
    await sleep(config.warmupS[mode] * 1000)

    ctx.setPhase(`${mode}: measuring`)
    const ends = mayComplete(mode)
    const p0 = mode === 'idle' ? null : await progressOf(group)
    const c0 = cpuSnapshot(pids, cluster.postmasterPid())
    timeline.beginWindow()
    live.beginWindow()
    db.beginWindow()
    load.beginWindow()
    const windowEnd = performance.now() + config.windowS[mode] * 1000
    let p1: Progress | null = null
    let endedAtWorkloadEnd = false
    while (performance.now() < windowEnd) {
      assertRunning(group, 'during the window')
      await sleep(Math.min(ends ? 200 : 1000, Math.max(0, windowEnd - performance.now())))
      if (ends) {
        const p = await progressOf(group)
        if (p.state === 'complete') {
          p1 = p
          endedAtWorkloadEnd = true
          break
        }
      }
    }
    const c1 = cpuSnapshot(pids, cluster.postmasterPid())
    timeline.endWindow()
    if (mode !== 'idle' && !p1) p1 = await progressOf(group)
    const loopSamples = live.endWindow()
    const connections = db.endWindow()
    const api = await load.endWindow()
    const cpu = cpuBetween(c0, c1)
    const processed = p0 && p1 ? p1.counts.processed - p0.counts.processed : 0
    const records = p0 && p1 ? p1.counts.upserted + p1.counts.deleted - p0.counts.upserted - p0.counts.deleted : 0
    const p99s = loopSamples.map((s) => s.loopDelayP99Ms).sort((a, b) => a - b)
    const window: ModeResult['window'] = {
      seconds: cpu.wallSeconds,
      endedAtWorkloadEnd,
      eventsProcessed: processed,
      eventsPerSecond: round(processed / cpu.wallSeconds),
      recordsWritten: records,
      recordsPerSecond: round(records / cpu.wallSeconds),
      eventsPerCpuSecond: mode === 'idle' || cpu.serverCpuSeconds <= 0 ? null : Math.round(processed / cpu.serverCpuSeconds),
      cpu,
      loopDelayP99Ms: {
        mean: p99s.length ? round(p99s.reduce((a, b) => a + b, 0) / p99s.length, 2) : null,
        median: p99s.length ? p99s[Math.floor((p99s.length - 1) / 2)] : null,
        max: p99s.length ? p99s[p99s.length - 1] : null,
        samples: p99s.length,
      },
      selfReportedCpuPercent: loopSamples.length ? round(loopSamples.reduce((a, s) => a + s.cpuPercent, 0) / loopSamples.length) : null,
      throttleAtEnd: p1?.throttle.describe ?? null,
    }
    say(ctx, mode, window)

    let wholeRun: ModeResult['wholeRun'] = null
    if (mode === 'max' && config.maxToEnd && runStart) {
      ctx.setPhase(`${mode}: the rest of the workload`)
      const capAt = spawnedAt + config.maxRunCapS * 1000
      let last = p1!
      let lastSay = performance.now()
      while (last.state !== 'complete' && performance.now() < capAt) {
        assertRunning(group, 'during the whole run')
        await sleep(250)
        last = await progressOf(group)
        if (last.state === 'failed') throw new Error(`the backfill failed: ${last.error}`)
        if (performance.now() - lastSay > 15_000) {
          lastSay = performance.now()
          ctx.say(`  max: ${last.counts.processed}/${store.headSeq} events, ${Math.round(last.eventsPerSecond)} events/s, RSS ${Math.round(rss[0].maxRssMb)} MB max`)
        }
      }
      const end = cpuSnapshot(pids, cluster.postmasterPid())
      const use = cpuBetween(runStart.cpu, end)
      const events = last.counts.processed
      wholeRun = {
        completed: last.state === 'complete',
        events,
        seconds: use.wallSeconds,
        eventsPerSecond: round((events - runStart.processed) / use.wallSeconds),
        cpuSeconds: use.serverCpuSeconds,
        eventsPerCpuSecond: use.serverCpuSeconds > 0 ? Math.round((events - runStart.processed) / use.serverCpuSeconds) : null,
        serverCpuPercent: use.serverCpuPercent,
        vmHwmMb: null,
        maxSampledRssMb: 0,
        maxHeapUsedMb: 0,
        afterComplete: null,
      }
      if (!wholeRun.completed) ctx.say(`  max: stopped at ${events} events after the ${config.maxRunCapS} s cap`)
      else if (config.afterCompleteS > 0) {
        ctx.setPhase(`${mode}: API load after completion`)
        const a0 = cpuSnapshot(pids, cluster.postmasterPid())
        live.beginWindow()
        load.beginWindow()
        await sleep(config.afterCompleteS * 1000)
        const a1 = cpuSnapshot(pids, cluster.postmasterPid())
        const samples = live.endWindow().map((x) => x.loopDelayP99Ms)
        const after = { seconds: cpuBetween(a0, a1).wallSeconds, api: await load.endWindow(), serverCpuPercent: cpuBetween(a0, a1).serverCpuPercent }
        wholeRun.afterComplete = {
          ...after,
          loopDelayP99Ms: {
            mean: samples.length ? round(samples.reduce((a, b) => a + b, 0) / samples.length, 2) : null,
            max: samples.length ? Math.max(...samples) : null,
          },
        }
        ctx.say(`  max, after completion: ${after.api.map((e) => `${e.name} p99 ${e.p99Ms} ms`).join(', ')}`)
      }
    }

    for (const r of rss) r.sample()
    const hwms = rss.map((r) => r.hwmMb())
    const vmHwmMb = hwms.some((h) => h === null) ? null : Math.max(...(hwms as number[]))
    const maxSampledRssMb = Math.max(...rss.map((r) => r.maxRssMb))
    if (wholeRun) {
      wholeRun.vmHwmMb = vmHwmMb === null ? null : round(vmHwmMb)
      wholeRun.maxSampledRssMb = round(maxSampledRssMb)
      wholeRun.maxHeapUsedMb = live.maxHeapUsedMb
    }
    const failedRequests = api.reduce((a, e) => a + e.failed, 0)
    const result: ModeResult = {
      mode,
      instances,
      settings,
      nominalEventsPerSecond: nominalRate(mode),
      database: { name: database, copiedFrom, seededEvents },
      startup: { listeningAfterS, firstCommitAfterS },
      window,
      memory: {
        vmHwmMb: vmHwmMb === null ? null : round(vmHwmMb),
        maxSampledRssMb: round(maxSampledRssMb),
        limitMb: settings?.maxMemoryMb ?? null,
        maxHeapUsedMb: live.maxHeapUsedMb,
      },
      dbConnections: { ...connections, limit: settings?.maxConcurrent ?? null, highWater: p1?.db.highWater ?? null },
      api,
      failedRequests,
      wholeRun,
      loadAverageAtStart,
      profile: null,
      logFile: path.relative(process.cwd(), logFile),
      timeline: null,
    }
    ctx.setPhase(`${mode}: stopping`)
    await load.stop()
    load = null
    live.close()
    result.timeline = timeline.stop()
    timeline = null
    await Promise.all(servers.map((s) => s.stop(profileDir ? 60_000 : 15_000)))
    if (profileDir) {
      const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'))
      if (files.length) result.profile = await summariseProfile(path.join(profileDir, files[0]))
      else ctx.say(`  no .cpuprofile was written in ${profileDir}`)
    }
    return result
  } finally {
    for (const r of rss) r.stop()
    timeline?.stop()
    await load?.stop()
    live?.close()
    await db.stop()
    await Promise.all(servers.map((s) => s.stop()))
    await source?.close()
    await directory?.close()
    ctx.track(null, [])
  }
}

function say(ctx: ModeContext, mode: ModeName, w: ModeResult['window']): void {
  const rate = mode === 'idle' ? '' : `${w.eventsPerSecond} events/s, `
  const perCpu = w.eventsPerCpuSecond === null ? '' : `${w.eventsPerCpuSecond} events/CPU-s, `
  ctx.say(
    `  ${mode}: ${rate}${perCpu}server CPU ${w.cpu.serverCpuPercent}%, Postgres ${w.cpu.postgresCpuPercent ?? '?'}%, ` +
      `others on the machine ${w.cpu.otherCpuPercent ?? '?'}% over ${w.seconds} s${w.endedAtWorkloadEnd ? ' (workload ended)' : ''}`,
  )
}
