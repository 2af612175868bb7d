// Turns the modes' results into the targets (met, missed, or not measured) and the markdown report.
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
  /** The commit measured; files under server/ (and the package files) that differed from it. */
  git: { commit: string; serverTree: string; uncommittedServerChanges: string[]; diffHash: string } | null
  machine: { cpuModel: string; cores: number; memoryGiB: number; kernel: string; nodeVersion: string; postgresVersion: string }
  workload: { path: string; seed: string; accounts: number; events: number; bytes: number; generationMs: number }
  config: Omit<RunConfig, 'variant' | 'workload'>
  durationS: number
  notes: string[]
  modes: Partial<Record<ModeName, ModeResult>>
  targets: Target[]
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

export function evaluateTargets(modes: Partial<Record<ModeName, ModeResult>>, machineCores: number): Target[] {
  const { idle, max, adaptive } = modes
  const targets: Target[] = []
  const add = (id: string, description: string, met: boolean | null, actual: string) => targets.push({ id, description, met, actual })

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
  const ad = [p99(adaptive, 'GET /api/stats'), p99(adaptive, 'getProfile')]
  const base = [p99(idle, 'GET /api/stats'), p99(idle, 'getProfile')]
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

export function markdown(results: BenchResults): string {
  const { machine, workload, modes } = results
  const idle = modes.idle
  const lines: string[] = []
  lines.push(`# skyfill backfill bench (${results.variant})`)
  lines.push('')
  lines.push(
    `${results.date} · ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB · Node ${machine.nodeVersion} · PostgreSQL ${machine.postgresVersion} (embedded) · ` +
      `workload: ${fmt(workload.events)} events, ${fmt(workload.accounts)} accounts (seed ${workload.seed}) · bench took ${fmt(results.durationS)} s` +
      (results.git ? ` · commit ${results.git.commit.slice(0, 7)}${results.git.uncommittedServerChanges.length ? ` + uncommitted changes to ${results.git.uncommittedServerChanges.join(', ')}` : ''}` : ''),
  )
  lines.push('')
  lines.push(
    '| Mode | Events/s | Events per CPU-s | Server CPU % of a core (net of idle) | Postgres CPU % | Peak RSS MB (VmHWM / sampled) | Backfill DB conns max / mean | Loop delay p99 ms (mean / max) | /api/stats p50 / p99 ms | getProfile p50 / p99 ms | Failed requests | Other load on machine, % of a core |',
  )
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const mode of MODES) {
    const r = modes[mode]
    if (!r) continue
    const w = r.window
    const rate = mode === 'idle' ? '–' : `${fmt(w.eventsPerSecond, w.eventsPerSecond < 100 ? 1 : 0)}${r.nominalEventsPerSecond ? ` (of ${r.nominalEventsPerSecond})` : ''}`
    const net = mode === 'idle' ? '' : ` (${fmt(netCpuPercent(r, idle), 1)})`
    lines.push(
      `| ${mode} | ${rate} | ${fmt(w.eventsPerCpuSecond)} | ${fmt(w.cpu.serverCpuPercent, 1)}${net} | ${fmt(w.cpu.postgresCpuPercent, 1)} | ` +
        `${fmt(r.memory.vmHwmMb)} / ${fmt(r.memory.maxSampledRssMb)} | ${mode === 'idle' ? '–' : `${r.dbConnections.max} / ${fmt(r.dbConnections.mean, 2)}`} | ` +
        `${fmt(w.loopDelayP99Ms.mean, 1)} / ${fmt(w.loopDelayP99Ms.max, 1)} | ${apiCell(r, 'GET /api/stats')} | ${apiCell(r, 'getProfile')} | ${r.failedRequests} | ${fmt(w.cpu.otherCpuPercent, 0)} |`,
    )
  }
  const whole = modes.max?.wholeRun
  if (whole) {
    lines.push('')
    lines.push(
      `**max, whole workload:** ${fmt(whole.events)} events${whole.completed ? '' : ' (stopped at the time cap)'} in ${fmt(whole.seconds, 1)} s: ` +
        `${fmt(whole.eventsPerSecond)} events/s, ${fmt(whole.eventsPerCpuSecond)} events per CPU-second (server at ${fmt(whole.serverCpuPercent, 1)}% of a core), ` +
        `peak RSS ${fmt(whole.vmHwmMb)} MB (VmHWM; sampled max ${fmt(whole.maxSampledRssMb)} MB; V8 heap in use at most ${fmt(whole.maxHeapUsedMb)} MB).`,
    )
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
  }
  lines.push('')
  lines.push(
    `Windows: ${MODES.filter((m) => modes[m]).map((m) => `${m} ${fmt(modes[m]!.window.seconds, 1)} s`).join(', ')}, each after a warm-up; ` +
      `API load ${results.config.apiRatePerSec} req/s to each endpoint throughout. CPU is utime+stime from /proc of the server's node process; ` +
      `"net of idle" subtracts what the server spent in the idle mode (API load, dashboard stream, timers) with the backfill off.`,
  )
  lines.push('')
  lines.push('## Targets')
  lines.push('')
  for (const t of results.targets) {
    const mark = t.met === null ? '–' : t.met ? '✓' : '✗'
    lines.push(`- ${mark} ${t.description}: ${t.actual}`)
  }
  if (results.notes.length) {
    lines.push('')
    lines.push('## Notes')
    lines.push('')
    for (const n of results.notes) lines.push(`- ${n}`)
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
