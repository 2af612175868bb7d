// The repo bench's section of bench/results.md: the limit and its parts, then one line per profile.
import type { RepoBenchResult } from './run.js'

const n = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toLocaleString('en-US'))

export function reposMarkdown(r: RepoBenchResult): string {
  const w = r.workload
  const lines = [
    '## Repo backfill',
    '',
    `${n(w.records)} records in ${n(w.repos)} repositories (median ${n(w.medianRepo)} records, largest ${n(w.largestRepo)}; ` +
      `${(w.bytes / 1e6).toFixed(0)} MB of signed CARs from \`${w.dir}\`), served by the bench's repository network over ` +
      `${r.pdsHosts} PDS hosts on 127.0.0.1, with ${Object.entries(r.hostLimits).map(([k, v]) => `${k}=${v}`).join(' ')} ` +
      '(the defaults pace every DID document and handle check at one directory host: 2.5 repositories/s).',
    '',
    `**max: ${n(r.recordsPerSecond)} records/s, ${(r.fractionOfLimit * 100).toFixed(0)}% of the limit** ` +
      `(limit ${n(r.limit.recordsPerSecond)} records/s = 1/(1/walk + 1/write): CAR walk alone ${n(r.limit.walkPerSecond)}/s, ` +
      `row writes alone ${n(r.limit.writePerSecond)}/s; per CPU-second: walk ${n(r.limit.walkPerCpuSecond)}, ` +
      `writes ${n(r.limit.writePerCpuSecond)} with Postgres's CPU, limit ${n(r.limit.recordsPerCpuSecond)}, of which max reached ` +
      `${r.fractionOfLimitPerCpu === null ? '–' : `${(r.fractionOfLimitPerCpu * 100).toFixed(0)}%`}); peak RSS ${n(r.peakRssMb)} MB; API p99 ${n(r.apiP99Ms)} ms.`,
    '',
    '| profile | span | records/s | per server CPU-s | per CPU-s with Postgres | server CPU % | Postgres CPU % | peak RSS MB | API p99 ms | rows written in the span |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const p of r.profiles) {
    const tail = p.rows90AfterS === null ? '' : `, 90% of rows after ${p.rows90AfterS} s`
    const span = p.span === 'window' ? `${p.seconds} s window` : `${p.seconds} s, ${p.completed ? 'all records' : 'cut at the cap'}${tail}`
    lines.push(
      `| ${p.profile} | ${span} | ${n(p.recordsPerSecond)} | ${n(p.recordsPerCpuSecond)} | ${n(p.recordsPerCpuSecondWithPostgres)} | ${p.cpu.serverCpuPercent} | ${p.cpu.postgresCpuPercent ?? '–'} | ` +
        `${n(p.peakRssMb)} | ${n(p.apiP99Ms)} | ${n(p.rowsWritten)} |`,
    )
  }
  return `${lines.join('\n')}\n`
}
