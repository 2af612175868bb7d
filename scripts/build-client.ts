// Builds the dashboard (client/ → client/dist) with Vite, only when it is missing or out of date, so `npm start`
// (prestart) stays fast on restarts. "Out of date" = the hash of the client's sources (index.html, src/**,
// vite.config.ts, public/**) and the Vite version differs from the one stamped into the last build.
//
//   tsx scripts/build-client.ts            build if needed
//   tsx scripts/build-client.ts --force    always build
//   tsx scripts/build-client.ts --check    exit 1 if a build is needed, build nothing
//   --strict                               exit 1 when the build fails (`npm start` goes on without a dashboard,
//                                          and the server says at / how to build it; `npm run build:client` fails)
//
// Safe to run concurrently (parallel test files, a test run next to `npm start`): one process builds under a lock
// file while the others wait, and the result is moved into place with a rename, so client/dist is never half-written.
// Tests call ensureClientBuilt() directly.
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { processRuns } from '../server/lib/process-runs.js'

export const CLIENT_DIR = fileURLToPath(new URL('../client', import.meta.url))
export const DIST_DIR = path.join(CLIENT_DIR, 'dist')
const STAMP = '.build-stamp'
const LOCK_STALE_MS = 5 * 60_000

export type BuildResult = { built: boolean; reason: string; ms: number; distDir: string }

type Options = {
  force?: boolean
  log?: (line: string) => void
  /** Another copy of the client (tests); default: this repository's client/. Its dist is `<clientDir>/dist`. */
  clientDir?: string
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  let entries
  try {
    entries = await fs.readdir(dir, { withFileTypes: true })
  } catch {
    return out
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await listFiles(full)))
    else if (entry.isFile()) out.push(full)
  }
  return out
}

function viteVersion(): string {
  try {
    const pkg = fileURLToPath(new URL('../node_modules/vite/package.json', import.meta.url))
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version
  } catch {
    return 'missing'
  }
}

/** A hash of everything the build reads. */
export async function sourceHash(clientDir = CLIENT_DIR): Promise<string> {
  const files = [
    path.join(clientDir, 'index.html'),
    path.join(clientDir, 'vite.config.ts'),
    ...(await listFiles(path.join(clientDir, 'src'))),
    ...(await listFiles(path.join(clientDir, 'public'))),
  ].sort()
  const hash = createHash('sha256').update(`vite ${viteVersion()}\n`)
  for (const file of files) {
    if (!existsSync(file)) continue
    hash.update(`${path.relative(clientDir, file)}\n`).update(await fs.readFile(file)).update('\n')
  }
  return hash.digest('hex')
}

async function readStamp(distDir: string): Promise<string | null> {
  try {
    const stamp = JSON.parse(await fs.readFile(path.join(distDir, STAMP), 'utf8')) as { hash?: string }
    return existsSync(path.join(distDir, 'index.html')) ? (stamp.hash ?? null) : null
  } catch {
    return null
  }
}

/** Why a build is needed, or null when client/dist is current. */
export async function staleReason(clientDir = CLIENT_DIR): Promise<string | null> {
  const distDir = path.join(clientDir, 'dist')
  if (!existsSync(path.join(distDir, 'index.html'))) return 'client/dist is missing'
  const stamp = await readStamp(distDir)
  if (stamp === null) return 'client/dist has no build stamp'
  if (stamp !== (await sourceHash(clientDir))) return 'client sources changed since the last build'
  return null
}

async function acquireLock(clientDir: string, log: (line: string) => void): Promise<() => Promise<void>> {
  const LOCK = path.join(clientDir, '.build.lock')
  let announced = false
  for (;;) {
    try {
      const handle = await fs.open(LOCK, 'wx')
      await handle.writeFile(JSON.stringify({ pid: process.pid, at: Date.now() }))
      await handle.close()
      return async () => {
        await fs.rm(LOCK, { force: true })
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let holder: { pid?: number; at?: number } = {}
    try {
      holder = JSON.parse(await fs.readFile(LOCK, 'utf8')) as typeof holder
    } catch {
      // Being written right now, or just removed: look again.
    }
    const stale =
      (typeof holder.at === 'number' && Date.now() - holder.at > LOCK_STALE_MS) ||
      (typeof holder.pid === 'number' && holder.pid !== process.pid && !processRuns(holder.pid))
    if (stale) {
      await fs.rm(LOCK, { force: true })
      continue
    }
    if (!announced) log('[CLIENT] another process is building the dashboard; waiting')
    announced = true
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

async function viteBuild(clientDir: string, outDir: string): Promise<void> {
  let vite: typeof import('vite')
  try {
    vite = await import('vite')
  } catch {
    throw new Error('Vite is not installed (it is a devDependency): run `npm install` (without --omit=dev) to build the dashboard')
  }
  await vite.build({
    configFile: path.join(clientDir, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  })
}

/** Builds client/dist if it is missing or stale (or always, with force). Returns what it did. */
export async function ensureClientBuilt(options: Options = {}): Promise<BuildResult> {
  const log = options.log ?? ((line: string) => console.log(line))
  const clientDir = options.clientDir ?? CLIENT_DIR
  const distDir = path.join(clientDir, 'dist')
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  const first = options.force ? 'forced' : await staleReason(clientDir)
  if (first === null) return { built: false, reason: 'up to date', ms: elapsed(), distDir }

  const release = await acquireLock(clientDir, log)
  try {
    // Someone else may have built it while we waited for the lock.
    const reason = options.force ? 'forced' : await staleReason(clientDir)
    if (reason === null) return { built: false, reason: 'built by another process', ms: elapsed(), distDir }
    log(`[CLIENT] building the dashboard (${reason})`)
    const hash = await sourceHash(clientDir)
    const suffix = `${process.pid}-${Date.now().toString(36)}`
    const tmp = path.join(clientDir, `.dist-${suffix}`)
    const old = path.join(clientDir, `.dist-old-${suffix}`)
    try {
      await viteBuild(clientDir, tmp)
      await fs.writeFile(path.join(tmp, STAMP), JSON.stringify({ hash, vite: viteVersion(), builtAt: new Date().toISOString() }) + '\n')
      if (existsSync(distDir)) await fs.rename(distDir, old)
      await fs.rename(tmp, distDir)
    } finally {
      await fs.rm(tmp, { recursive: true, force: true })
      await fs.rm(old, { recursive: true, force: true })
    }
    log(`[CLIENT] dashboard built in ${elapsed()} ms → client/dist`)
    return { built: true, reason, ms: elapsed(), distDir }
  } finally {
    await release()
  }
}

async function cli(argv: string[]): Promise<number> {
  if (argv.includes('--check')) {
    const reason = await staleReason()
    console.log(reason === null ? '[CLIENT] dashboard is up to date' : `[CLIENT] dashboard needs a build: ${reason}`)
    return reason === null ? 0 : 1
  }
  const result = await ensureClientBuilt({ force: argv.includes('--force') })
  if (!result.built) console.log(`[CLIENT] dashboard is up to date (checked in ${result.ms} ms)`)
  return 0
}

const argvStrict = process.argv.includes('--strict')

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`[CLIENT] dashboard build failed: ${err instanceof Error ? err.message : String(err)}`)
      // `npm start` goes on without a dashboard (the server says at / how to build it) unless the build is required.
      process.exit(argvStrict ? 1 : 0)
    },
  )
}
