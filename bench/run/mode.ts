// Runs one mode: a fresh database, the synthetic source, the server as a child process, a steady API load; then a
// warm-up and a measurement window, and for `max` (when asked) the rest of the workload.
import { mkdir, readdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ThrottleSettings } from '../../server/config/profiles.js'
import type { WorkloadStore } from '../source/store.js'
import { ApiLoad, type EndpointResult } from './load.js'
import { cpuBetween, cpuSnapshot, DbSampler, getJson, LiveStream, RssSampler, type ConnectionStats, type CpuUse, type Progress } from './measure.js'
import { nominalRate, settingsOf, type ModeName, type RunConfig } from './modes.js'
import { DB_PREFIX, freePort, type BenchCluster } from './postgres.js'
import { summariseProfile, type ProfileSummary } from './profile.js'
import { spawnServer, type ServerChild } from './server-child.js'
import { startSource, type SourceHandle } from './source.js'

export type ModeResult = {
  mode: ModeName
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
  /** The source currently running, so an interrupt can close it. */
  track: (source: SourceHandle | null, server: ServerChild | null) => void
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits
const LISTENING = /^\[SERVER\] listening on (http:\/\/\S+)/
const STARTUP_TIMEOUT_MS = 90_000
const FIRST_COMMIT_TIMEOUT_MS = 120_000

function serverEnv(ctx: ModeContext, mode: ModeName, dbUrl: string, port: number, relay: string, plc: string, profile = mode) {
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
  Object.assign(env, ctx.extraEnv)
  if (profile === 'adaptive') {
    env.BACKFILL_MAX_CPU_PERCENT = String(ctx.config.adaptive.maxCpuPercent)
    env.BACKFILL_MAX_LAG_MS = String(ctx.config.adaptive.maxLagMs)
  }
  return env
}

async function progressOf(url: string): Promise<Progress & { completedAt: string | null }> {
  return getJson(`${url}/api/backfill`)
}

/** Polls /api/backfill until `done` says so; fails on a failed backfill, a dead server or the timeout. */
async function waitForProgress(
  server: ServerChild,
  url: string,
  done: (p: Progress) => boolean,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<Progress & { completedAt: string | null }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!server.isRunning()) throw new Error(`the server exited while waiting for ${what}; its last output:\n${server.tail()}`)
    const p = await progressOf(url)
    if (p.state === 'failed') throw new Error(`the backfill failed while waiting for ${what}: ${p.error}; server output:\n${server.tail()}`)
    if (done(p)) return p
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (state ${p.state}, processed ${p.counts.processed}); server output:\n${server.tail()}`)
    await sleep(everyMs)
  }
}

/** Fills a fresh database for `idle` by backfilling the workload's first events with the max profile. */
async function seedDatabase(ctx: ModeContext, dbUrl: string, events: number): Promise<void> {
  ctx.setPhase('idle: seeding its database')
  const source = await startSource(ctx.store.path, events)
  ctx.track(source, null)
  const port = await freePort()
  const server = spawnServer(serverEnv(ctx, 'max', dbUrl, port, source.url, source.url.replace(/^ws/, 'http'), 'max'), path.join(ctx.outDir, 'logs', 'idle-seed.log'))
  ctx.track(source, server)
  try {
    const [, url] = await server.waitForLine(LISTENING, STARTUP_TIMEOUT_MS)
    await waitForProgress(server, url, (p) => p.state === 'complete', 300_000, `the seeding of ${events} events`, 250)
  } finally {
    await server.stop()
    await source.close()
    ctx.track(null, null)
  }
}

export async function runMode(ctx: ModeContext, mode: ModeName): Promise<ModeResult> {
  const { config, cluster, store } = ctx
  const settings = settingsOf(mode)
  const database = `${DB_PREFIX}${mode}`
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
  const plc = source ? source.url.replace(/^ws/, 'http') : 'http://127.0.0.1:9'
  const port = await freePort()
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
  const server = spawnServer(serverEnv(ctx, mode, dbUrl, port, relay, plc), logFile, nodeArgs)
  ctx.track(source, server)
  const rss = new RssSampler(server.pid).start()
  let live: LiveStream | null = null
  let load: ApiLoad | null = null
  const db = new DbSampler(cluster.adminUrl, database).start()
  try {
    const [, url] = await server.waitForLine(LISTENING, STARTUP_TIMEOUT_MS)
    const listeningAfterS = round((performance.now() - spawnedAt) / 1000, 2)
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
      const first = await waitForProgress(server, url, (p) => p.counts.processed > 0, FIRST_COMMIT_TIMEOUT_MS, 'the first committed batch')
      runStart = { cpu: cpuSnapshot(server.pid, cluster.postmasterPid()), processed: first.counts.processed }
      firstCommitAfterS = round((performance.now() - spawnedAt) / 1000, 2)
    }
    // The API load runs through the warm-up too (JIT, connection pools), but only the window's requests count.
    load.start()
    ctx.setPhase(`${mode}: warm-up`)
    await sleep(config.warmupS[mode] * 1000)

    ctx.setPhase(`${mode}: measuring`)
    const mayComplete = mode === 'max' || mode === 'adaptive'
    const p0 = mode === 'idle' ? null : await progressOf(url)
    const c0 = cpuSnapshot(server.pid, cluster.postmasterPid())
    live.beginWindow()
    db.beginWindow()
    load.beginWindow()
    const windowEnd = performance.now() + config.windowS[mode] * 1000
    let p1: (Progress & { completedAt: string | null }) | null = null
    let endedAtWorkloadEnd = false
    while (performance.now() < windowEnd) {
      if (!server.isRunning()) throw new Error(`the server exited during the window; its last output:\n${server.tail()}`)
      await sleep(Math.min(mayComplete ? 200 : 1000, Math.max(0, windowEnd - performance.now())))
      if (mayComplete) {
        const p = await progressOf(url)
        if (p.state === 'complete') {
          p1 = p
          endedAtWorkloadEnd = true
          break
        }
      }
    }
    const c1 = cpuSnapshot(server.pid, cluster.postmasterPid())
    if (mode !== 'idle' && !p1) p1 = await progressOf(url)
    const loopSamples = live.endWindow()
    const connections = db.endWindow()
    const api = await load.endWindow()
    const cpu = cpuBetween(c0, c1)
    const processed = p0 && p1 ? p1.counts.processed - p0.counts.processed : 0
    const p99s = loopSamples.map((s) => s.loopDelayP99Ms).sort((a, b) => a - b)
    const window: ModeResult['window'] = {
      seconds: cpu.wallSeconds,
      endedAtWorkloadEnd,
      eventsProcessed: processed,
      eventsPerSecond: round(processed / cpu.wallSeconds),
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
        if (!server.isRunning()) throw new Error(`the server exited during the whole run; its last output:\n${server.tail()}`)
        await sleep(250)
        last = await progressOf(url)
        if (last.state === 'failed') throw new Error(`the backfill failed: ${last.error}`)
        if (performance.now() - lastSay > 15_000) {
          lastSay = performance.now()
          ctx.say(`  max: ${last.counts.processed}/${store.headSeq} events, ${Math.round(last.eventsPerSecond)} events/s, RSS ${Math.round(rss.maxRssMb)} MB max`)
        }
      }
      const end = cpuSnapshot(server.pid, cluster.postmasterPid())
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
        const a0 = cpuSnapshot(server.pid, cluster.postmasterPid())
        live.beginWindow()
        load.beginWindow()
        await sleep(config.afterCompleteS * 1000)
        const a1 = cpuSnapshot(server.pid, cluster.postmasterPid())
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

    rss.sample()
    const vmHwmMb = rss.hwmMb()
    if (wholeRun) {
      wholeRun.vmHwmMb = vmHwmMb === null ? null : round(vmHwmMb)
      wholeRun.maxSampledRssMb = round(rss.maxRssMb)
      wholeRun.maxHeapUsedMb = live.maxHeapUsedMb
    }
    const failedRequests = api.reduce((a, e) => a + e.failed, 0)
    const result: ModeResult = {
      mode,
      settings,
      nominalEventsPerSecond: nominalRate(mode),
      database: { name: database, copiedFrom, seededEvents },
      startup: { listeningAfterS, firstCommitAfterS },
      window,
      memory: {
        vmHwmMb: vmHwmMb === null ? null : round(vmHwmMb),
        maxSampledRssMb: round(rss.maxRssMb),
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
    }
    ctx.setPhase(`${mode}: stopping`)
    await load.stop()
    load = null
    live.close()
    await server.stop(profileDir ? 60_000 : 15_000)
    if (profileDir) {
      const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'))
      if (files.length) result.profile = await summariseProfile(path.join(profileDir, files[0]))
      else ctx.say(`  no .cpuprofile was written in ${profileDir}`)
    }
    return result
  } finally {
    rss.stop()
    await load?.stop()
    live?.close()
    await db.stop()
    await server.stop()
    await source?.close()
    ctx.track(null, null)
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
