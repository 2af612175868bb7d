// Turns the modes' results into the targets (met, missed, or not measured) and the markdown report, and the part of
// it BACKFILL_OPTIMIZATION.md quotes (docSection), which docs.ts keeps in step with the committed results.json.
import { compareInstances, fractionOfLean, modeFigures, type InstancesComparison, type ModeFigures, type PeerFigures } from './figures.js'
import type { LimitResult } from './limit.js'
import type { ModeResult } from './mode.js'
import { MODES, nominalRate, type ModeName, type RunConfig } from './modes.js'

export type Target = {
  id: string
  description: string
  /** null: not measured in this run (a mode missing, or the workload too small for it). */
  met: boolean | null
  actual: string
}

export type BenchResults = {
  variant: RunConfig['variant']
  date: string
  /**
   * The commit measured; `serverDirty`: files under server/ (or the package files) differed from it, as listed in
   * `uncommittedServerChanges` (absent in results written before it: read the list).
   */
  git: { commit: string; serverTree: string; serverDirty?: boolean; uncommittedServerChanges: string[]; diffHash: string } | null
  machine: { cpuModel: string; cores: number; memoryGiB: number; kernel: string; nodeVersion: string; postgresVersion: string }
  workload: { path: string; seed: string; accounts: number; events: number; bytes: number; generationMs: number }
  config: Omit<RunConfig, 'variant' | 'workload'>
  durationS: number
  notes: string[]
  /** What the machine can do on this workload, measured before the modes (absent in results written before it). */
  limit?: LimitResult | null
  /** The plain figures, one record per mode (absent in results written before them: see figuresOf). */
  figures?: Partial<Record<ModeName, ModeFigures>>
  /** max-x2 against max, when both ran. */
  instances?: InstancesComparison | null
  /** The peer indexer on the same frames (a --peer run fills it). */
  peer?: PeerFigures | null
  modes: Partial<Record<ModeName, ModeResult>>
  targets: Target[]
}

/** The figures per mode: as stored, or derived from the modes for results written before they were. */
export function figuresOf(results: Pick<BenchResults, 'modes' | 'figures' | 'limit' | 'peer'>): Partial<Record<ModeName, ModeFigures>> {
  if (results.figures) return results.figures
  const out: Partial<Record<ModeName, ModeFigures>> = {}
  for (const mode of MODES) {
    const r = results.modes[mode]
    if (r) out[mode] = modeFigures(r, results.limit ?? null, results.peer ?? null)
  }
  const verified = out['max-verified']
  if (verified) verified.fractionOfLean = fractionOfLean(verified, out.max)
  return out
}

/** The figures, the limit and the instances' comparison of one run, as results.json holds them. */
export function summarise(modes: Partial<Record<ModeName, ModeResult>>, limit: LimitResult | null, peer: PeerFigures | null) {
  const figures = figuresOf({ modes, limit, peer })
  return { figures, instances: compareInstances(figures.max, figures['max-x2']) }
}

const fmt = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || Number.isNaN(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** Server CPU over the window, less what the same API load cost with the backfill off (idle). */
export function netCpuPercent(r: ModeResult, idle: ModeResult | undefined): number {
  const base = idle?.window.cpu.serverCpuPercent ?? 0
  return Math.max(0, Math.round((r.window.cpu.serverCpuPercent - base) * 10) / 10)
}

function p99(r: ModeResult | undefined, name: string): number | null {
  return r?.api.find((e) => e.name === name)?.p99Ms ?? null
}

export type TargetInput = Pick<BenchResults, 'modes' | 'limit' | 'peer'> & { figures: Partial<Record<ModeName, ModeFigures>>; instances: InstancesComparison | null }

export function evaluateTargets(input: TargetInput, machineCores: number): Target[] {
  const { modes, figures, limit, instances } = input
  const { idle, max, adaptive } = modes
  const targets: Target[] = []
  const add = (id: string, description: string, met: boolean | null, actual: string) => targets.push({ id, description, met, actual })

  const maxFig = figures.max
  add(
    'max-fraction-of-limit',
    'max ≥ 60% of the limit measured in the same run',
    maxFig?.fractionOfLimit == null ? null : maxFig.fractionOfLimit >= 0.6,
    maxFig && limit
      ? `${fmt(maxFig.eventsPerSecond)} events/s = ${fmt((maxFig.fractionOfLimit ?? 0) * 100, 1)}% of the limit ${fmt(limit.eventsPerSecond)} (decode ${fmt(limit.decodePerSecond)}/s, write ${fmt(limit.writePerSecond)}/s)`
      : !max ? 'max not run' : 'no limit measured',
  )
  add(
    'max-peer-ratio',
    "max ≥ 40× the peer's events/s",
    maxFig?.peerRatio == null ? null : maxFig.peerRatio >= 40,
    maxFig?.peerRatio != null ? `${fmt(maxFig.peerRatio, 1)}× (${fmt(maxFig.eventsPerSecond)} vs ${fmt(input.peer?.eventsPerSecond, 1)} events/s)` : 'the peer did not run',
  )
  add(
    'instances-x2',
    'two instances on one database not slower together than one (max-x2 ≥ max)',
    instances ? instances.ratio >= 1 : null,
    instances ? `${fmt(instances.twoEventsPerSecond)} vs ${fmt(instances.oneEventsPerSecond)} events/s (${fmt(instances.ratio, 2)}×)` : 'max and max-x2 not both run',
  )

  const verified = figures['max-verified']
  add(
    'verified-fraction-of-lean',
    "verified ≥ 25% of lean's events/s",
    verified?.fractionOfLean == null ? null : verified.fractionOfLean >= 0.25,
    !verified
      ? 'max-verified not run'
      : verified.fractionOfLean == null
        ? 'max not run'
        : `${fmt(verified.eventsPerSecond)} events/s (max-verified, BACKFILL_DECODER=verified) = ${fmt(verified.fractionOfLean * 100, 1)}% of max's ${fmt(maxFig?.eventsPerSecond)} (lean)`,
  )

  add(
    'max-rate',
    'max ≥ 10,000 events/s',
    max ? max.window.eventsPerSecond >= 10_000 : null,
    max
      ? `${fmt(max.window.eventsPerSecond)} events/s over the window${max.wholeRun ? `, ${fmt(max.wholeRun.eventsPerSecond)} over the whole run` : ''}; ` +
          `server main thread ${fmt(max.window.cpu.serverMainThreadCpuPercent, 0)}% busy, Postgres ${fmt(max.window.cpu.postgresCpuPercent, 0)}%, ` +
          `machine ${fmt(max.window.cpu.machineCpuPercent, 0)}% of ${machineCores * 100}%`
      : 'max not run',
  )
  add(
    'max-efficiency',
    'max ≥ 5,000 events per CPU-second (server process)',
    max?.window.eventsPerCpuSecond != null ? max.window.eventsPerCpuSecond >= 5000 : null,
    max
      ? `${fmt(max.window.eventsPerCpuSecond)} events/CPU-s over the window (server at ${fmt(max.window.cpu.serverCpuPercent, 1)}% of a core, its main thread ${fmt(max.window.cpu.serverMainThreadCpuPercent, 1)}%)` +
          (max.wholeRun ? `, ${fmt(max.wholeRun.eventsPerCpuSecond)} over the whole run` : '')
      : 'max not run',
  )
  add(
    'adaptive-rate',
    'adaptive (15% CPU budget) ≥ 500 events/s',
    adaptive ? adaptive.window.eventsPerSecond >= 500 : null,
    adaptive ? `${fmt(adaptive.window.eventsPerSecond)} events/s at ${fmt(adaptive.window.cpu.serverCpuPercent, 1)}% server CPU (governor's own view ${fmt(adaptive.window.selfReportedCpuPercent, 1)}%)` : 'adaptive not run',
  )
  for (const mode of ['background', 'moderate', 'fast'] as const) {
    const r = modes[mode]
    const nominal = nominalRate(mode)!
    const net = r ? netCpuPercent(r, idle) : null
    add(
      `${mode}-footprint`,
      `${mode} reaches ~${nominal} events/s (≥ 80% of it) at < 5% of one core (net of the idle API baseline)`,
      r && net !== null ? r.window.eventsPerSecond >= nominal * 0.8 && net < 5 : null,
      r
        ? `${fmt(r.window.eventsPerSecond, 1)} events/s at ${fmt(net, 1)}% net (${fmt(r.window.cpu.serverCpuPercent, 1)}% total, idle ${fmt(idle?.window.cpu.serverCpuPercent, 1)}%)`
        : `${mode} not run`,
    )
  }
  const profiled = MODES.filter((m) => m !== 'idle' && modes[m])
  const overs = profiled.filter((m) => {
    const r = modes[m]!
    return r.memory.vmHwmMb === null || r.memory.limitMb === null || r.memory.vmHwmMb >= r.memory.limitMb
  })
  add(
    'rss-under-limit',
    'peak RSS below BACKFILL_MAX_MEMORY_MB in every profile',
    profiled.length ? overs.length === 0 : null,
    profiled.map((m) => `${m} ${fmt(modes[m]!.memory.vmHwmMb)}/${fmt(modes[m]!.memory.limitMb)} MB`).join(', ') || 'no profile run',
  )
  const whole = max?.wholeRun
  const coversMillion = !!whole && whole.completed && whole.events >= 1_000_000
  add(
    'max-rss-300',
    'max: peak RSS < 300 MB over ≥ 1,000,000 events',
    !max ? null : coversMillion ? (whole.vmHwmMb ?? Infinity) < 300 : null,
    !max
      ? 'max not run'
      : whole
        ? `${fmt(whole.vmHwmMb)} MB peak (VmHWM; sampled VmRSS max ${fmt(whole.maxSampledRssMb)} MB) over ${fmt(whole.events)} events${coversMillion ? '' : ' — fewer than 1,000,000, so not a measurement of this target'}`
        : `${fmt(max.memory.vmHwmMb)} MB peak over the window only`,
  )
  const maxP99 = [p99(max, 'GET /api/stats'), p99(max, 'getProfile')]
  add(
    'max-api-p99',
    'API p99 during max ≤ 50 ms (each endpoint)',
    max && maxP99.every((v) => v !== null) ? maxP99.every((v) => v! <= 50) : null,
    max ? `/api/stats ${fmt(maxP99[0], 1)} ms, getProfile ${fmt(maxP99[1], 1)} ms${max.failedRequests ? `, ${max.failedRequests} failed` : ''}` : 'max not run',
  )
  const base = [p99(idle, 'GET /api/stats'), p99(idle, 'getProfile')]
  add(
    'max-api-p99-vs-idle',
    'API p99 during max ≤ 3× idle (each endpoint)',
    max && idle && [...maxP99, ...base].every((v) => v !== null) ? maxP99.every((v, i) => v! <= 3 * base[i]!) : null,
    max && idle ? `/api/stats ${fmt(maxP99[0], 1)} vs idle ${fmt(base[0], 1)} ms, getProfile ${fmt(maxP99[1], 1)} vs ${fmt(base[1], 1)} ms` : 'max or idle not run',
  )
  const ad = [p99(adaptive, 'GET /api/stats'), p99(adaptive, 'getProfile')]
  const comparable = adaptive && idle && [...ad, ...base].every((v) => v !== null)
  add(
    'adaptive-api-p99',
    'API p99 during adaptive ≤ 2× idle (each endpoint)',
    comparable ? ad.every((v, i) => v! <= 2 * base[i]!) : null,
    adaptive && idle
      ? `/api/stats ${fmt(ad[0], 1)} vs idle ${fmt(base[0], 1)} ms (${fmt(ad[0]! / base[0]!, 2)}×), getProfile ${fmt(ad[1], 1)} vs ${fmt(base[1], 1)} ms (${fmt(ad[1]! / base[1]!, 2)}×)`
      : 'adaptive or idle not run',
  )
  return targets
}

function apiCell(r: ModeResult, name: string): string {
  const e = r.api.find((x) => x.name === name)
  return e ? `${fmt(e.p50Ms, 1)} / ${fmt(e.p99Ms, 1)}` : '–'
}

const modeLabel = (mode: ModeName, r: { instances?: number }) => ((r.instances ?? 1) > 1 ? `${mode} (${r.instances} instances)` : mode)

function headerLine(results: BenchResults): string {
  const { machine, workload, git } = results
  return (
    `${results.date} · ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB · Node ${machine.nodeVersion} · PostgreSQL ${machine.postgresVersion} (embedded) · ` +
    `workload: ${fmt(workload.events)} events, ${fmt(workload.accounts)} accounts (seed ${workload.seed}) · bench took ${fmt(results.durationS)} s` +
    (git ? ` · commit ${git.commit.slice(0, 7)}${git.uncommittedServerChanges.length ? ` + uncommitted changes to ${git.uncommittedServerChanges.join(', ')}` : ''}` : '')
  )
}

function limitLine(limit: LimitResult): string {
  return (
    `**The limit** (measured first, on the same workload, each part alone): decode alone \`d\` = ${fmt(limit.decodePerSecond)} frames/s ` +
    `(the ${limit.decoder} decoder on one thread, frames from memory into pipeline items in batches of ${fmt(limit.batchSize)}), ` +
    `write alone \`w\` = ${fmt(limit.writePerSecond)} frames/s (the indexer's BatchWriter into a fresh database: each batch's planning and ` +
    `transaction, ${limit.concurrency} in flight; ${fmt(limit.recordsPerSecond)} records/s), over ${fmt(limit.events)} frames: ` +
    `**limit = 1 / (1/d + 1/w) = ${fmt(limit.eventsPerSecond)} events/s**. Per CPU-second: decode ${fmt(limit.decodePerCpuSecond)} frames, ` +
    `write ${fmt(limit.writePerCpuSecond)} frames (the writer's and Postgres's CPU together).`
  )
}

function figuresTable(figures: Partial<Record<ModeName, ModeFigures>>, limit: LimitResult | null): string[] {
  const lines = [
    `| Mode | Events/s | Fraction of limit${limit ? ` (${fmt(limit.eventsPerSecond)}/s)` : ''} | Records/s | Events per CPU-s | Peak RSS MB | /api/stats p99 ms | getProfile p99 ms | Peer ratio |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const mode of MODES) {
    const f = figures[mode]
    if (!f) continue
    lines.push(
      `| ${modeLabel(mode, f)} | ${fmt(f.eventsPerSecond, (f.eventsPerSecond ?? 100) < 100 ? 1 : 0)} | ${f.fractionOfLimit === null ? '–' : `${fmt(f.fractionOfLimit * 100, 1)}%`} | ` +
        `${fmt(f.recordsPerSecond)} | ${fmt(f.eventsPerCpuSecond)} | ${fmt(f.peakRssMb)} | ${fmt(f.apiP99Ms['GET /api/stats'], 1)} | ${fmt(f.apiP99Ms.getProfile, 1)} | ` +
        `${f.peerRatio === null ? '–' : `${fmt(f.peerRatio, 1)}×`} |`,
    )
  }
  return lines
}

function modesTable(modes: BenchResults['modes']): string[] {
  const idle = modes.idle
  const lines = [
    '| Mode | Events/s | Events per CPU-s | Server CPU % of a core (net of idle) | Postgres CPU % | Peak RSS MB (VmHWM / sampled) | Backfill DB conns max / mean | Loop delay p99 ms (mean / max) | /api/stats p50 / p99 ms | getProfile p50 / p99 ms | Failed requests | Other load on machine, % of a core |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const mode of MODES) {
    const r = modes[mode]
    if (!r) continue
    const w = r.window
    const rate = mode === 'idle' ? '–' : `${fmt(w.eventsPerSecond, w.eventsPerSecond < 100 ? 1 : 0)}${r.nominalEventsPerSecond ? ` (of ${r.nominalEventsPerSecond})` : ''}`
    const net = mode === 'idle' ? '' : ` (${fmt(netCpuPercent(r, idle), 1)})`
    lines.push(
      `| ${modeLabel(mode, r)} | ${rate} | ${fmt(w.eventsPerCpuSecond)} | ${fmt(w.cpu.serverCpuPercent, 1)}${net} | ${fmt(w.cpu.postgresCpuPercent, 1)} | ` +
        `${fmt(r.memory.vmHwmMb)} / ${fmt(r.memory.maxSampledRssMb)} | ${mode === 'idle' ? '–' : `${r.dbConnections.max} / ${fmt(r.dbConnections.mean, 2)}`} | ` +
        `${fmt(w.loopDelayP99Ms.mean, 1)} / ${fmt(w.loopDelayP99Ms.max, 1)} | ${apiCell(r, 'GET /api/stats')} | ${apiCell(r, 'getProfile')} | ${r.failedRequests} | ${fmt(w.cpu.otherCpuPercent, 0)} |`,
    )
  }
  return lines
}

function wholeRunLines(modes: BenchResults['modes']): string[] {
  const whole = modes.max?.wholeRun
  if (!whole) return []
  const lines = [
    '',
    `**max, whole workload:** ${fmt(whole.events)} events${whole.completed ? '' : ' (stopped at the time cap)'} in ${fmt(whole.seconds, 1)} s: ` +
      `${fmt(whole.eventsPerSecond)} events/s, ${fmt(whole.eventsPerCpuSecond)} events per CPU-second (server at ${fmt(whole.serverCpuPercent, 1)}% of a core), ` +
      `peak RSS ${fmt(whole.vmHwmMb)} MB (VmHWM; sampled max ${fmt(whole.maxSampledRssMb)} MB; V8 heap in use at most ${fmt(whole.maxHeapUsedMb)} MB).`,
  ]
  const after = whole.afterComplete
  if (after) {
    const cell = (name: string) => {
      const e = after.api.find((x) => x.name === name)
      return e ? `${fmt(e.p50Ms, 1)} / ${fmt(e.p99Ms, 1)} ms` : '–'
    }
    lines.push('')
    lines.push(
      `**max, after completion** (same server and ${fmt(whole.events)}-event database, backfill done, ${fmt(after.seconds, 0)} s): ` +
        `/api/stats p50 / p99 ${cell('GET /api/stats')}, getProfile ${cell('getProfile')}, loop delay p99 ${fmt(after.loopDelayP99Ms.mean, 1)} ms mean, ` +
        `server CPU ${fmt(after.serverCpuPercent, 1)}%: the API's cost on this much data without a backfill running.`,
    )
  }
  return lines
}

/** The figures of one run: what results.md and BACKFILL_OPTIMIZATION.md both show. */
function figureLines(results: BenchResults): string[] {
  const { modes } = results
  const limit = results.limit ?? null
  const lines: string[] = [headerLine(results), '']
  if (limit) lines.push(limitLine(limit), '')
  lines.push(...figuresTable(figuresOf(results), limit))
  const inst = results.instances
  if (inst) {
    lines.push('')
    lines.push(
      `**Two instances on one database** (max-x2: two server processes sharing the window as seq ranges, the same settings) against one (max), in the same run: ` +
        `${fmt(inst.twoEventsPerSecond)} vs ${fmt(inst.oneEventsPerSecond)} events/s together, ${fmt(inst.ratio, 2)}×.`,
    )
  }
  lines.push('')
  lines.push(...modesTable(modes))
  lines.push(...wholeRunLines(modes))
  lines.push('')
  lines.push(
    `Windows: ${MODES.filter((m) => modes[m]).map((m) => `${m} ${fmt(modes[m]!.window.seconds, 1)} s`).join(', ')}, each after a warm-up; ` +
      `API load ${results.config.apiRatePerSec} req/s to each endpoint throughout. CPU is utime+stime from /proc of the server's node process; ` +
      `"net of idle" subtracts what the server spent in the idle mode (API load, dashboard stream, timers) with the backfill off.`,
  )
  return lines
}

function targetLines(targets: readonly Target[]): string[] {
  return targets.map((t) => `- ${t.met === null ? '–' : t.met ? '✓' : '✗'} ${t.description}: ${t.actual}`)
}

/** What BACKFILL_OPTIMIZATION.md quotes between its bench markers: the run's figures and targets, nothing else. */
export function docSection(results: BenchResults): string {
  return [...figureLines(results), '', '**Targets** (✓ met, ✗ missed, – not measured in this run):', '', ...targetLines(results.targets)].join('\n')
}

/** `pictures`: the SVG file (next to the report) of each mode that has a timeline. */
export function markdown(results: BenchResults, pictures: Partial<Record<ModeName, string>> = {}): string {
  const { modes } = results
  const lines: string[] = [`# skyfill backfill bench (${results.variant})`, '', ...figureLines(results)]
  lines.push('', '## Targets', '', ...targetLines(results.targets))
  if (results.notes.length) {
    lines.push('', '## Notes', '')
    for (const n of results.notes) lines.push(`- ${n}`)
  }
  const drawn = MODES.filter((m) => pictures[m])
  if (drawn.length) {
    lines.push('', '## Over time', '')
    lines.push("Each mode from its server's start to its stop, sampled every second: events/s committed, server CPU (% of a core) and resident memory; the shaded band is the measurement window.")
    for (const m of drawn) lines.push('', `![${m}: events/s, CPU and RSS over time](${pictures[m]})`)
  }
  const profile = modes.max?.profile
  if (profile) {
    lines.push('')
    lines.push(`## max: where the server's time goes (--cpu-prof, ${fmt(profile.busyMs)} ms busy)`)
    lines.push('')
    lines.push('| Self % | Self ms | Function | Location |')
    lines.push('|---:|---:|---|---|')
    for (const f of profile.top.slice(0, 15)) lines.push(`| ${fmt(f.selfPercent, 1)} | ${fmt(f.selfMs)} | ${f.function} | ${f.location} |`)
    lines.push('')
    lines.push('| Area | Self % |')
    lines.push('|---|---:|')
    for (const a of profile.areas.slice(0, 12)) lines.push(`| ${a.area} | ${fmt(a.selfPercent, 1)} |`)
  }
  lines.push('')
  return lines.join('\n')
}
