// `npm run demo`: skyfill backfilling a real (local) PDS, to watch on the dashboard. No network access needed.
//
//   1. starts Bluesky's reference PDS + PLC on 127.0.0.1 (test/harness/pds.ts, the harness the end-to-end tests use)
//   2. seeds it with a deterministic workload (test/harness/seed.ts): accounts, posts, replies, quotes, likes,
//      reposts, follows, blocks, lists, profiles, with deletions and updates
//   3. starts skyfill in this process on PORT (default 5000) with RELAY_URL = that PDS, BACKFILL_DAYS=-1 and the
//      `moderate` profile, so the backfill takes a minute or so; the live firehose is on
//   4. keeps writing a trickle of new records to the PDS, which the live firehose indexes
//   Ctrl-C / SIGTERM stops everything: the trickle, skyfill (in-flight writes finish), Postgres, the PDS.
//
// The database is an embedded Postgres in ./data/demo (wiped at every start), or DATABASE_URL when set.
// Knobs (environment): PORT, HOST (default 127.0.0.1), BACKFILL_PROFILE and the other BACKFILL_* variables,
// DATABASE_URL, PG_PORT, DEMO_ACCOUNTS (50), DEMO_ACTIONS (actions per account, 150), DEMO_MAX_BATCH (writes per
// applyWrites commit, 25), DEMO_SEED (1), DEMO_TRICKLE_MS (mean pause between live writes, 1500; 0 = none).
import { existsSync, readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, parseConfig } from '../server/config/index.js'
import { startSkyfill, type Skyfill } from '../server/main.js'
import { startPds, type PdsHandle } from '../test/harness/pds.js'
import { freePort } from '../test/harness/postgres.js'
import { seedWorkload, type SeedSummary } from '../test/harness/seed.js'
import { ensureClientBuilt } from './build-client.js'
import { watchHead, type HeadWatch } from './demo/head-watch.js'
import { startTrickle, type Trickle } from './demo/trickle.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DATA_DIR = path.join(ROOT, 'data', 'demo')

const say = (line: string) => console.log(`[DEMO] ${line}`)
const env = process.env
const int = (name: string, fallback: number, min = 0): number => {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) {
    console.error(`[DEMO] ${name}=${raw} is not an integer >= ${min}`)
    process.exit(1)
  }
  return n
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const ACCOUNTS = int('DEMO_ACCOUNTS', 50, 2)
const ACTIONS = int('DEMO_ACTIONS', 150, 1)
const MAX_BATCH = int('DEMO_MAX_BATCH', 25, 2)
const SEED = int('DEMO_SEED', 1)
const TRICKLE_MS = int('DEMO_TRICKLE_MS', 1500)

let pds: PdsHandle | null = null
let pdsStarting: Promise<PdsHandle> | null = null
let head: HeadWatch | null = null
let sky: Skyfill | null = null
let skyStarting: Promise<Skyfill> | null = null
let trickle: Trickle | null = null
let stopping: Promise<void> | null = null
const timers: NodeJS.Timeout[] = []

/** A postmaster a previous (killed) demo left running on ./data/demo: stop it before wiping its directory. */
async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid')
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0) return
  let cmdline = ''
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return // not running
  }
  if (!cmdline.includes('postgres')) return
  say(`stopping the Postgres a previous demo left running (pid ${pid})`)
  process.kill(pid, 'SIGINT')
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function shutdown(reason: string): Promise<void> {
  stopping ??= (async () => {
    say(`${reason}: shutting down`)
    for (const t of timers) clearInterval(t)
    const step = async (name: string, fn: () => Promise<void>, timeoutMs: number) => {
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          fn(),
          new Promise<void>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
          }),
        ])
      } catch (err) {
        say(`stopping ${name}: ${err instanceof Error ? err.message : String(err)}`)
      } finally {
        clearTimeout(timer)
      }
    }
    // Something still starting is waited for, then stopped like the rest.
    const started = async <T>(value: T | null, starting: Promise<T> | null) => value ?? (await starting?.catch(() => null)) ?? null
    if (trickle) await step('the trickle', () => trickle!.stop(), 5_000)
    if (head) await step('the head watcher', () => head!.close(), 2_000)
    const s = await started(sky, skyStarting)
    if (s) await step('skyfill', () => s.stop(), 20_000)
    const p = await started(pds, pdsStarting)
    if (p) await step('the PDS', () => p.stop(), 15_000)
    say('stopped')
  })()
  return stopping
}

// A terminal's Ctrl-C reaches this process twice (from the terminal, and relayed by npm): a repeat within a few
// seconds is the same Ctrl-C. A later one means "now": exit without waiting.
let firstSignalAt = 0
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now()
      void shutdown(signal).then(() => process.exit(0))
    } else if (Date.now() - firstSignalAt > 3000) {
      say(`${signal} again: exiting now`)
      process.exit(1)
    }
  })
}

async function seed(pdsUrl: string): Promise<SeedSummary> {
  say(`seeding ${ACCOUNTS} accounts × ${ACTIONS} actions (seed ${SEED}, up to ${MAX_BATCH} writes per commit)…`)
  const t0 = Date.now()
  const progress = setInterval(() => {
    const c = head!.counts
    say(
      `  seeding: ${c.identity ?? 0}/${ACCOUNTS} accounts, ${c.commit ?? 0} commits, ${head!.total} firehose events so far` +
        ` (${seconds(Date.now() - t0)})`,
    )
  }, 3000)
  try {
    const summary = await seedWorkload(pdsUrl, {
      accounts: ACCOUNTS,
      actionsPerAccount: ACTIONS,
      seed: SEED,
      maxBatch: MAX_BATCH,
      accountConcurrency: 4,
    })
    const writes = summary.ops.creates + summary.ops.updates + summary.ops.deletes
    say(
      `seeded in ${seconds(Date.now() - t0)}: ${summary.accounts.length} accounts, ${writes} writes in ${summary.ops.commits} commits; ` +
        `the PDS firehose is at seq ${head!.seq} (${head!.total} events)`,
    )
    const live = Object.entries(summary.counts)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c.replace(/^app\.bsky\./, '')} ${n}`)
      .join(', ')
    say(`records on the PDS: ${live}`)
    return summary
  } finally {
    clearInterval(progress)
  }
}

async function main(): Promise<void> {
  const t0 = Date.now()
  const dashboard = await ensureClientBuilt({ log: (l) => console.log(l) })
  if (dashboard.built) say(`dashboard built in ${seconds(dashboard.ms)}`)

  say('starting the reference PDS (+ PLC) on 127.0.0.1…')
  pdsStarting = startPds()
  pds = await pdsStarting
  say(`PDS ${pds.url} (PLC ${pds.plcUrl}) up in ${seconds(pds.startupMs)}`)
  if (stopping) return
  head = await watchHead(pds.url)
  const summary = await seed(pds.url)
  if (stopping) return

  // Everything the operator can set still applies; the demo only picks defaults and the source.
  const useDatabaseUrl = Boolean(env.DATABASE_URL)
  if (!useDatabaseUrl) {
    await stopLeftoverPostgres(path.join(DATA_DIR, 'postgres'))
    await fs.rm(DATA_DIR, { recursive: true, force: true })
  }
  const demoEnv: Record<string, string | undefined> = {
    BACKFILL_PROFILE: 'moderate',
    HOST: '127.0.0.1',
    PORT: '5000',
    ...env,
    RELAY_URL: pds.url,
    PLC_URL: pds.plcUrl,
    BACKFILL_DAYS: env.BACKFILL_DAYS ?? '-1',
    FIREHOSE_ENABLED: env.FIREHOSE_ENABLED ?? 'true',
    PG_DATA_DIR: path.join(DATA_DIR, 'postgres'),
    PG_PORT: env.PG_PORT ?? String(await freePort()),
  }
  let config
  try {
    config = parseConfig(demoEnv, ROOT)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`[CONFIG] ${err.message}`)
      await shutdown('bad configuration')
      process.exit(1)
    }
    throw err
  }
  say(
    useDatabaseUrl
      ? 'database: DATABASE_URL (records from earlier runs stay; the backfill cursor starts over for this PDS)'
      : `database: embedded Postgres in ${path.relative(ROOT, DATA_DIR)}/postgres on 127.0.0.1:${config.embeddedPg.port} (fresh)`,
  )
  say(`starting skyfill: profile ${config.backfill.profile}, batch ${config.backfill.throttle.batchSize}, delay ${config.backfill.throttle.batchDelayMs} ms`)
  skyStarting = startSkyfill(config, (line) => console.log(line))
  sky = await skyStarting
  if (stopping) return

  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  const url = `http://${host}:${config.port}/`
  const user = summary.accounts[0]!.handle
  console.log('')
  say(`dashboard:  ${url}`)
  say(`progress:   ${url}api/backfill`)
  say(`xrpc:       ${url}xrpc/app.bsky.actor.getProfile?actor=${user}`)
  say(`            ${url}xrpc/app.bsky.feed.getAuthorFeed?actor=${user}`)
  say('Ctrl-C stops everything.')
  console.log('')

  const backfillStarted = Date.now()
  void sky.backfill.whenDone().then(() => {
    if (stopping || !sky) return
    const p = sky.backfill.getProgress()
    say(
      `backfill ${p.state} in ${seconds(Date.now() - backfillStarted)}: ${p.counts.processed} events written, ` +
        `${p.counts.invalid} rejected; the live firehose is ${sky.firehose?.getStatus().state ?? 'off'}` +
        ` (demo up ${seconds(Date.now() - t0)})`,
    )
  })

  if (TRICKLE_MS > 0) {
    const posts = summary.expected.get('app.bsky.feed.post') ?? new Map<string, string>()
    trickle = startTrickle({
      accounts: summary.accounts,
      posts,
      intervalMs: TRICKLE_MS,
      seed: SEED + 1000,
      onError: (err) => say(`trickle write failed: ${err instanceof Error ? err.message : String(err)}`),
    })
    say(`live trickle: a write every ~${TRICKLE_MS} ms by the seeded accounts (DEMO_TRICKLE_MS=0 turns it off)`)
    let lastTotal = 0
    timers.push(
      setInterval(() => {
        if (!trickle || !sky) return
        const f = sky.firehose?.getStatus()
        const kinds = Object.entries(trickle.counts)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')
        say(
          `live: ${trickle.total - lastTotal} new writes in the last 30 s (so far: ${kinds}); PDS head seq ${head?.seq}, ` +
            `firehose ${f ? `${f.state} at seq ${f.cursor ?? '-'} (${f.processed} events indexed)` : 'off'}`,
        )
        lastTotal = trickle.total
      }, 30_000),
    )
  }
}

main().catch(async (err: unknown) => {
  if (stopping) return // a write or start-up cut short by Ctrl-C: the shutdown in progress exits
  console.error(`[DEMO] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  await shutdown('error')
  process.exit(1)
})
