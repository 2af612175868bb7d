// `npm run bench`: the backfill profiles side by side on this machine. First the machine's limit on the workload
// (decode alone, write alone: limit.ts); then for each mode a fresh database in one embedded Postgres cluster, the
// synthetic firehose serving a cached workload, the server as a child process (two for max-x2) under a steady API
// load; then events/s, records/s, the fraction of the limit, events per CPU-second, CPU, peak RSS, backfill
// connections, event-loop delay and API latency over a measurement window, and a timeline of each mode drawn as an
// SVG. Writes bench/results.{json,md} and bench/results-<mode>.svg (--quick: bench/results-quick*).
//
//   npm run bench                   full: 1,000,000-event workload, 60 s windows, max to the end of the workload
//   npm run bench -- --quick        under 2 minutes once the workload is cached: 50,000 events, short windows
//   npm run bench -- --modes max --cpu-prof   a subset, and a CPU profile of the max server (results under bench/out/)
//   npm run bench -- --modes max,max-x2       one server against two on one database
//   npm run bench -- --modes max,max-verified the verified decoder against the lean one
//   npm run bench -- --docs         rewrites BACKFILL_OPTIMIZATION.md's bench part from bench/results.json, nothing else
//   npm run bench -- --repos        also the repo backfill (bench/repos): its limit, max to the end, background, adaptive
//   npm run bench -- --modes= --repos   the repo backfill alone
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseConfig } from '../server/config/index.js'
import { defaultWorkers } from './source/generator.js'
import { openOrGenerateWorkload } from './source/store.js'
import { updateDocs } from './run/docs.js'
import { spawnLimit, type LimitResult } from './run/limit.js'
import { runMode, type ModeResult } from './run/mode.js'
import { CONFIGS, decoderOf, instancesOf, MODES, profileOf, RUN_ORDER, type ModeName } from './run/modes.js'
import { BENCH_DIR, OUT_DIR, ROOT } from './run/paths.js'
import { startCluster, type BenchCluster } from './run/postgres.js'
import { machineInfo } from './run/proc.js'
import { evaluateTargets, markdown, summarise, type BenchResults } from './run/report.js'
import { measurePeer, PEER_OVERHEAD_S, PEER_SUBSETS, type PeerReport } from './peer/measure-peer.js'
import { peerMarkdown, peerRatio } from './peer/report.js'
import { killAllServers, type ServerChild } from './run/server-child.js'
import { reposMarkdown } from './repos/report.js'
import { openRepoBenchWorkload, REPO_CONFIGS, runRepoBench, type RepoBenchResult } from './repos/run.js'
import type { SourceHandle } from './run/source.js'
import { timelineSvg } from './run/svg.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    modes: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'direct-source': { type: 'boolean', default: false },
    'skip-limit': { type: 'boolean', default: false },
    docs: { type: 'boolean', default: false },
    peer: { type: 'boolean', default: false },
    repos: { type: 'boolean', default: false },
    set: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
})

if (args.help) {
  console.log(`usage: npm run bench -- [--quick] [--modes ${MODES.join(',')}] [--cpu-prof] [--direct-source] [--skip-limit] [--peer] [--repos] [--set BACKFILL_X=value ...]`)
  console.log('       npm run bench -- --docs   (BACKFILL_OPTIMIZATION.md from bench/results.json)')
  process.exit(0)
}

if (args.docs) {
  const changed = await updateDocs()
  console.log(changed ? 'bench: rewrote the bench part of BACKFILL_OPTIMIZATION.md from bench/results.json' : 'bench: BACKFILL_OPTIMIZATION.md already matches bench/results.json')
  process.exit(0)
}

const config = CONFIGS[args.quick ? 'quick' : 'full']
// `--modes=` (none) with --repos runs the repo backfill alone.
const selected: ModeName[] = args.modes !== undefined
  ? args.modes.split(',').filter(Boolean).map((m) => {
      const mode = m.trim() as ModeName
      if (!MODES.includes(mode)) fail(`unknown mode "${m}" (modes: ${MODES.join(', ')})`)
      return mode
    })
  : [...MODES]
const order = RUN_ORDER.filter((m) => selected.includes(m))
// Experiments: extra server variables for every mode (e.g. --set BACKFILL_MAX_CONCURRENT=4).
const extraEnv: Record<string, string> = {}
for (const item of args.set ?? []) {
  const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(item)
  if (!m) fail(`--set takes NAME=value, got "${item}"`)
  extraEnv[m[1]] = m[2]
}
// The committed figures come only from a complete, unprofiled run; anything else goes under bench/out/.
const partial = args.modes !== undefined || args['cpu-prof'] || args['direct-source'] || args['skip-limit'] || !!args.set?.length
const stem = config.variant === 'quick' ? 'results-quick' : 'results'
const resultsDir = partial ? OUT_DIR : BENCH_DIR
const outDir = path.join(OUT_DIR, config.variant)
const lockFile = path.join(OUT_DIR, `bench-${config.variant}.lock`)

let cluster: BenchCluster | null = null
let source: SourceHandle | null = null
let servers: ServerChild[] = []
let phase = 'starting'
let finished = false
const startedAt = performance.now()

function fail(message: string): never {
  console.error(`bench: ${message}`)
  process.exit(1)
}

function say(line: string): void {
  const t = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)
  console.log(`[bench ${t}s] ${line}`)
}

/** Synchronous last resort, for 'exit': no child and no Postgres outlives the bench. */
function killEverything(): void {
  killAllServers()
  const pid = cluster?.postmasterPid()
  if (pid && !finished) {
    try {
      // SIGINT is Postgres's fast shutdown: it ends the backends and exits cleanly.
      process.kill(pid, 'SIGINT')
    } catch {
      // already gone
    }
  }
  if (existsSync(lockFile)) {
    try {
      if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) rmSync(lockFile)
    } catch {
      // not ours, or gone
    }
  }
}

async function shutdown(code: number, message?: string): Promise<never> {
  if (message) console.error(`bench: ${message}`)
  const hard = setTimeout(() => {
    killEverything()
    process.exit(code)
  }, 20_000)
  hard.unref()
  try {
    await Promise.all(servers.map((s) => s.stop(3000)))
    await source?.close()
    await cluster?.stop()
    finished = true
  } catch {
    // killEverything below
  }
  killEverything()
  process.exit(code)
}

function takeLock(): void {
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim())
    let alive = false
    try {
      process.kill(pid, 0)
      alive = true
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM'
    }
    if (alive && pid !== process.pid) fail(`another ${config.variant} bench is running (pid ${pid}, ${lockFile}); wait for it or stop it first`)
  }
  writeFileSync(lockFile, String(process.pid))
}

process.on('exit', killEverything)
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      // A second Ctrl-C: no more waiting, but still nothing left running.
      killEverything()
      process.exit(130)
    }
    interrupted = true
    void shutdown(130, `interrupted (${signal}) during ${phase}; stopping the server and Postgres`)
  })
}
process.on('uncaughtException', (err) => void shutdown(1, `unexpected error during ${phase}: ${err.stack ?? err.message}`))
process.on('unhandledRejection', (err) => void shutdown(1, `unexpected error during ${phase}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`))

async function main(): Promise<void> {
  if (process.platform !== 'linux') fail('the bench reads /proc and needs Linux')
  await mkdir(outDir, { recursive: true })
  takeLock()
  await rm(path.join(outDir, 'logs'), { recursive: true, force: true })
  const emptyEnvFile = path.join(OUT_DIR, 'empty.env')
  await writeFile(emptyEnvFile, '')

  const gitAtStart = gitState()
  // The workload first: generating a million signed commits takes minutes the first time, and is not timed.
  phase = 'opening the workload'
  const { workload } = config
  let lastReport = 0
  const store = await openOrGenerateWorkload(
    { ...workload, workers: defaultWorkers(workload.events) },
    {
      onProgress: (seq, total) => {
        if (performance.now() - lastReport < 10_000) return
        lastReport = performance.now()
        const elapsed = (performance.now() - startedAt) / 1000
        const eta = seq > 0 ? Math.round((elapsed / seq) * (total - seq)) : null
        say(`generating the workload: ${seq}/${total} frames${eta !== null ? `, about ${eta} s to go` : ''} (cached in bench/out/synthetic afterwards)`)
      },
    },
  )
  say(`workload ${path.relative(process.cwd(), store.path)}: ${store.headSeq} frames, ${(store.manifest.bytes / 1e6).toFixed(0)} MB`)

  // The time bound covers the measurement, not the one-off generation above.
  const measureStart = performance.now()
  const boundS = config.deadlineS + (args.peer ? PEER_SUBSETS[config.variant].timeLimitS + PEER_OVERHEAD_S : 0) + (args.repos ? REPO_CONFIGS[config.variant].deadlineS : 0)
  const deadline = setTimeout(
    () => void shutdown(1, `the ${config.variant} bench exceeded its time bound of ${boundS} s (during ${phase})`),
    boundS * 1000,
  )
  deadline.unref()

  phase = 'starting Postgres'
  cluster = await startCluster(path.join(OUT_DIR, `pg-${config.variant}`), (line) => say(line))
  say(`PostgreSQL ${cluster.version} on ${new URL(cluster.adminUrl).host}, data in ${path.relative(process.cwd(), cluster.dataDir)}`)

  let limit: LimitResult | null = null
  if (!args['skip-limit']) {
    phase = 'measuring the limit'
    limit = await measureTheLimit(cluster, store.path)
  }

  const results: Partial<Record<ModeName, ModeResult>> = {}
  let previousDatabase: string | null = null
  for (const mode of order) {
    const n = instancesOf(mode)
    const decoder = decoderOf(mode)
    say(`${mode}: ${mode === 'idle' ? 'backfill off (API baseline)' : `BACKFILL_PROFILE=${profileOf(mode)}${decoder ? ` BACKFILL_DECODER=${decoder}` : ''}${n > 1 ? `, ${n} server processes on one database` : ''}`}`)
    const result = await runMode(
      {
        config,
        cluster,
        store,
        previousDatabase,
        outDir,
        emptyEnvFile,
        cpuProfile: args['cpu-prof'],
        directSource: args['direct-source'],
        extraEnv,
        say,
        setPhase: (p) => {
          phase = p
        },
        track: (s, c) => {
          source = s
          servers = c
        },
      },
      mode,
    )
    results[mode] = result
    // Only the last database is kept (idle copies it); a million-event database is gigabytes.
    if (previousDatabase) await cluster.dropDatabase(previousDatabase)
    previousDatabase = result.database.name
  }
  if (previousDatabase) await cluster.dropDatabase(previousDatabase)
  let repos: RepoBenchResult | null = null
  if (args.repos) {
    const repoWorkload = await openRepoBenchWorkload(config.variant, say)
    repos = await runRepoBench({ variant: config.variant, cluster, outDir, emptyEnvFile, extraEnv, say, setPhase: (p) => (phase = p), track: (c) => (servers = c ? [c] : []) }, repoWorkload)
  }
  phase = 'running the peer'
  const peer = args.peer ? await measurePeer({ cluster, store, variant: config.variant, say }) : null
  phase = 'writing the results'
  await cluster.stop()
  finished = true
  clearTimeout(deadline)

  const notes: string[] = []
  const loads = Object.values(results).map((r) => r.window.cpu.otherCpuPercent ?? 0)
  const busiest = Math.max(0, ...loads)
  if (busiest > 20) {
    notes.push(`Other processes used up to ${Math.round(busiest)}% of a core during a window (see the last column): the machine was shared, so these figures are noisier than on a quiet machine.`)
  }
  if (config.variant === 'quick') {
    notes.push(`Quick run: ${workload.events.toLocaleString('en-US')}-event workload and windows of a few seconds; rates of the slow profiles are coarse (a batch or two), and the 1,000,000-event RSS target needs the full run.`)
  }
  if (results.idle?.database.copiedFrom) notes.push(`idle served a copy of the database ${results.idle.database.copiedFrom.replace(/^skyfill_bench_/, '')} had just written, so the API baseline reads the same data.`)
  const gitAtEnd = gitState()
  const measured = (g: BenchResults['git']) => (g ? [g.serverTree, g.diffHash] : null)
  if (JSON.stringify(measured(gitAtEnd)) !== JSON.stringify(measured(gitAtStart))) {
    notes.push(`The server code in the tree changed while the bench ran (server/ at ${gitAtStart?.serverTree.slice(0, 7)} then ${gitAtEnd?.serverTree.slice(0, 7)}, or its uncommitted changes): modes may have run different code.`)
  }
  if (Object.keys(extraEnv).length) notes.push(`Extra server variables: ${Object.entries(extraEnv).map(([k, v]) => `${k}=${v}`).join(' ')}.`)
  if (args['direct-source']) notes.push('--direct-source: the server read the synthetic server directly, without the front relay.')
  if (args['cpu-prof']) notes.push('max ran under --cpu-prof, which costs a few percent of throughput.')

  const ours = results.max?.window
  const peerFigures = peer && { eventsPerSecond: peer.eventsPerSecond, recordsPerSecond: peer.recordsPerSecond, events: peer.events }
  const { figures, instances } = summarise(results, limit, peerFigures)
  const machine = machineInfo()
  const output: Omit<BenchResults, 'peer'> & { peer: (PeerReport & { peerRatio: number | null }) | null } & { repos?: RepoBenchResult } = {
    variant: config.variant,
    date: new Date().toISOString(),
    git: gitAtStart,
    machine: { ...machine, postgresVersion: cluster.version },
    workload: {
      path: path.relative(process.cwd(), store.path),
      ...workload,
      bytes: store.manifest.bytes,
      generationMs: store.manifest.generationMs,
    },
    config: (({ variant: _v, workload: _w, ...rest }) => rest)(config),
    durationS: Math.round((performance.now() - measureStart) / 1000),
    notes,
    limit,
    figures,
    instances,
    peer: peer && { ...peer, peerRatio: peerRatio(ours?.eventsPerSecond, peer) },
    modes: results,
    targets: evaluateTargets({ modes: results, limit, peer: peerFigures, figures, instances }, machine.cores),
    ...(repos ? { repos } : {}),
  }
  const pictures: Partial<Record<ModeName, string>> = {}
  for (const mode of MODES) {
    const timeline = results[mode]?.timeline
    if (!timeline) continue
    pictures[mode] = `${stem}-${mode}.svg`
    await writeFile(path.join(resultsDir, pictures[mode]), timelineSvg(`${mode} (${config.variant}): events/s, server CPU and RSS`, timeline))
  }
  const peerSection = peer && ours ? peerMarkdown(peer, { mode: 'max', eventsPerSecond: ours.eventsPerSecond, recordsPerSecond: ours.recordsPerSecond ?? null, eventsPerCpuSecond: ours.eventsPerCpuSecond }) : peer ? peerMarkdown(peer, null) : ''
  const md = markdown(output, pictures) + (peerSection ? `\n${peerSection}` : '') + (repos ? `\n${reposMarkdown(repos)}` : '')
  await writeFile(path.join(resultsDir, `${stem}.json`), `${JSON.stringify(output, null, 2)}\n`)
  await writeFile(path.join(resultsDir, `${stem}.md`), md)
  console.log('')
  console.log(md)
  say(`wrote ${path.relative(process.cwd(), path.join(resultsDir, `${stem}.json`))} and ${stem}.md (${output.durationS} s of measurement, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')})`)
}

/**
 * Decode alone and write alone on the workload, with the settings and decoder the max modes get (the max profile,
 * with any --set overrides read by the server's own config parser), in a database of its own, dropped afterwards.
 */
async function measureTheLimit(c: BenchCluster, workloadPath: string): Promise<LimitResult> {
  const { backfill } = parseConfig({ BACKFILL_PROFILE: 'max', BACKFILL_DAYS: '-1', FIREHOSE_ENABLED: 'false', ...extraEnv })
  const database = 'skyfill_bench_limit'
  const databaseUrl = await c.createDatabase(database)
  await mkdir(path.join(outDir, 'logs'), { recursive: true })
  say(`limit: decode alone, then write alone (${backfill.decoder} decoder, batches of ${backfill.throttle.batchSize}, ${backfill.throttle.maxConcurrent} in flight)`)
  try {
    const limit = await spawnLimit(
      {
        workloadPath,
        databaseUrl,
        decoder: backfill.decoder,
        settings: backfill.throttle,
        events: config.limit.events,
        chunkFrames: config.limit.chunkFrames,
        postmasterPid: c.postmasterPid(),
      },
      path.join(outDir, 'logs', 'limit.log'),
      config.limit.timeoutS * 1000,
    )
    say(
      `  limit: decode ${limit.decodePerSecond} frames/s (${limit.decodePerCpuSecond} per CPU-s), write ${limit.writePerSecond} frames/s ` +
        `(${limit.writePerCpuSecond ?? '?'} per CPU-s of writer and Postgres; ${limit.recordsPerSecond} records/s) → ${limit.eventsPerSecond} events/s over ${limit.events} frames`,
    )
    return limit
  } finally {
    await c.dropDatabase(database)
  }
}

/** The commit measured, and whether the server's code differed from it (other work in the tree). */
function gitState(): BenchResults['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const changed = execFileSync('git', ['status', '--porcelain', '--', 'server', 'package.json', 'package-lock.json'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3))
    // Names alone would miss a further edit to an already-changed file: the diff itself is fingerprinted too.
    const diff = execFileSync('git', ['diff', 'HEAD', '--', 'server', 'package.json', 'package-lock.json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 })
    const diffHash = createHash('sha256').update(diff).update(changed.join('\n')).digest('hex').slice(0, 12)
    // The server's tree at HEAD: a commit that touches only docs or tests does not change what is measured.
    const serverTree = execFileSync('git', ['rev-parse', 'HEAD:server'], { cwd: ROOT, encoding: 'utf8' }).trim()
    return { commit, serverTree, serverDirty: changed.length > 0, uncommittedServerChanges: changed, diffHash }
  } catch {
    return null
  }
}

main().then(
  () => {
    killEverything()
    process.exit(0)
  },
  (err: unknown) => void shutdown(1, `failed during ${phase}: ${err instanceof Error ? err.message : String(err)}`),
)
