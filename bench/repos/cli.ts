// The repo backfill bench on its own, without the replay modes: `npx tsx bench/repos/cli.ts [--quick]
// [--profiles max,background,adaptive] [--set BACKFILL_X=value ...]`. Its own Postgres cluster under bench/out/pg-repos-<variant>; results in
// bench/out/repos-<variant>.{json,md}. `npm run bench -- --repos` runs the same part inside the full bench instead.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { OUT_DIR } from '../run/paths.js'
import { startCluster } from '../run/postgres.js'
import { killAllServers } from '../run/server-child.js'
import { reposMarkdown } from './report.js'
import { openRepoBenchWorkload, REPO_PROFILES, runRepoBench, type RepoProfile } from './run.js'

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, profiles: { type: 'string' }, set: { type: 'string', multiple: true } },
})
const variant = args.quick ? 'quick' : 'full'
const profiles = args.profiles?.split(',').map((p) => {
  if (!(REPO_PROFILES as readonly string[]).includes(p)) throw new Error(`unknown profile "${p}" (profiles: ${REPO_PROFILES.join(', ')})`)
  return p as RepoProfile
})
const extraEnv = Object.fromEntries(
  (args.set ?? []).map((item) => {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(item)
    if (!m) throw new Error(`--set takes NAME=value, got "${item}"`)
    return [m[1], m[2]]
  }),
)
const startedAt = performance.now()
const say = (line: string) => console.log(`[repos ${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)}s] ${line}`)
let phase = 'starting'
process.on('exit', killAllServers)

const outDir = path.join(OUT_DIR, variant)
await mkdir(path.join(outDir, 'logs'), { recursive: true })
const emptyEnvFile = path.join(OUT_DIR, 'empty.env')
await writeFile(emptyEnvFile, '')
const workload = await openRepoBenchWorkload(variant, say)
const cluster = await startCluster(path.join(OUT_DIR, `pg-repos-${variant}`), say)
try {
  const result = await runRepoBench({ variant, cluster, outDir, emptyEnvFile, profiles, extraEnv, say, setPhase: (p) => (phase = p), track: () => {} }, workload)
  const md = reposMarkdown(result)
  await writeFile(path.join(OUT_DIR, `repos-${variant}.json`), `${JSON.stringify(result, null, 2)}\n`)
  await writeFile(path.join(OUT_DIR, `repos-${variant}.md`), md)
  console.log(`\n${md}`)
} catch (err) {
  console.error(`repos bench: failed during ${phase}: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  killAllServers()
  await cluster.stop()
}
