// Runs the peer (peer-child.ts) against a database and a firehose and measures it: events handled per second (each
// counted as its handler finishes, as our own `processed` counts written events), records per second from the
// record ops in as many events from the start, its CPU and peak memory from /proc, and, once stopped, the rows it
// wrote in its own schema, which show that it really indexed. The run ends when its cursor reaches `events` (all
// handled) or at `timeLimitS`, whichever is first. After a completed run the indexer's background work still queued (its
// aggregate counts) is waited for and timed apart (`drainSeconds`), not folded into the rate; after a time-bounded
// one it is stopped at once, its events beyond the cursor not counted.
import { fork, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { processMemory, cpuSeconds, treeCpuSeconds } from '../run/proc.js'
import type { PeerChildOptions, PeerReply, PeerRequest } from './peer-child.js'

export type PeerRunOptions = {
  databaseUrl: string
  firehoseUrl: string
  plcUrl: string
  /** The seq of the subset's last event: the run ends once every event up to it is handled. */
  events: number
  timeLimitS: number
  /** Record ops in the frames up to a seq (record-ops.ts). */
  recordsUpTo: (seq: number) => Promise<number>
  /** The peer's connection pool (default 10, as @atproto/dev-env runs it). */
  poolSize?: number
  /** The postmaster, for Postgres's CPU over the run. */
  postgresPid?: number | null
  /** Called at every reading of its progress (ten a second). */
  onProgress?: (seconds: number, handled: number) => void
}

export type PeerResult = {
  /** Events handled. */
  events: number
  /** Its cursor at the end: every event up to it handled. */
  cursor: number
  /** Events it had taken off the firehose by the end (it reads ahead without bound). */
  received: number
  seconds: number
  eventsPerSecond: number
  records: number
  recordsPerSecond: number
  /** Every event of the subset handled within the time limit. */
  completed: boolean
  /** How long its queued work took to finish after a completed run; null: not completed, or not within DRAIN_LIMIT_MS. */
  drainSeconds: number | null
  cpuSeconds: number | null
  eventsPerCpuSecond: number | null
  postgresCpuSeconds: number | null
  peakRssMb: number | null
  poolSize: number
  /** [seconds since the start, events handled, cursor], about once a second. */
  timeline: [number, number, number][]
  /** Rows in the peer's tables after the run. */
  rows: Record<PeerTable, number>
}

export const PEER_SCHEMA = 'bsky'
export const PEER_TABLES = ['actor', 'record', 'post', 'like', 'follow', 'repost', 'profile', 'notification'] as const
export type PeerTable = (typeof PEER_TABLES)[number]

const POLL_MS = 100
const DRAIN_LIMIT_MS = 120_000
const STOP_LIMIT_MS = 20_000
const CHILD = fileURLToPath(new URL('./peer-child.ts', import.meta.url))

type Child = { proc: ChildProcess; ask<T extends PeerReply['type']>(req: PeerRequest, reply: T, timeoutMs: number): Promise<Extract<PeerReply, { type: T }>> }

function startChild(opts: PeerChildOptions): { child: Child; ready: Promise<Extract<PeerReply, { type: 'ready' }>> } {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  const proc = fork(CHILD, [JSON.stringify(opts)], { execArgv: ['--import', tsx], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  const output: string[] = []
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    if (output.length > 200) output.splice(0, output.length - 100)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const waiting = new Set<(r: PeerReply | Error) => void>()
  proc.on('message', (r: PeerReply) => {
    for (const w of waiting) w(r)
  })
  proc.once('exit', (code, signal) => {
    const err = new Error(`the peer exited (code ${code}, signal ${signal}); its last output:\n${output.slice(-20).join('\n')}`)
    for (const w of waiting) w(err)
  })
  const next = <T extends PeerReply['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<PeerReply, { type: T }>>((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer)
        waiting.delete(take)
        settle()
      }
      const take = (r: PeerReply | Error) => {
        if (r instanceof Error) done(() => reject(r))
        else if (r.type === 'error') done(() => reject(new Error(r.message)))
        else if (r.type === type) done(() => resolve(r as Extract<PeerReply, { type: T }>))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`the peer sent no '${type}' within ${timeoutMs} ms`))), timeoutMs)
      waiting.add(take)
    })
  const child: Child = {
    proc,
    ask(req, reply, timeoutMs) {
      const answer = next(reply, timeoutMs)
      proc.send(req)
      return answer
    },
  }
  // Its migrations (some 250 of them) take a while on a busy machine; they are not timed.
  return { child, ready: next('ready', 180_000) }
}

async function countRows(databaseUrl: string): Promise<Record<PeerTable, number>> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'skyfill-bench' })
  await client.connect()
  try {
    const counts = {} as Record<PeerTable, number>
    for (const table of PEER_TABLES) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${PEER_SCHEMA}."${table}"`)
      counts[table] = Number(rows[0].n)
    }
    return counts
  } finally {
    await client.end()
  }
}

export async function runPeer(opts: PeerRunOptions): Promise<PeerResult> {
  const poolSize = opts.poolSize ?? 10
  const { child, ready } = startChild({ databaseUrl: opts.databaseUrl, schema: PEER_SCHEMA, poolSize, firehoseUrl: opts.firehoseUrl, plcUrl: opts.plcUrl })
  const pid = child.proc.pid!
  try {
    await ready
    const cpu0 = cpuSeconds(pid)
    const pg0 = opts.postgresPid ? treeCpuSeconds(opts.postgresPid) : null
    const started = performance.now()
    child.proc.send({ type: 'start' } satisfies PeerRequest)
    let progress = { cursor: 0, received: 0, handled: 0 }
    let seconds = 0
    const timeline: [number, number, number][] = []
    for (;;) {
      await sleep(POLL_MS)
      progress = await child.ask({ type: 'progress' }, 'progress', 10_000)
      seconds = (performance.now() - started) / 1000
      if (seconds >= timeline.length) timeline.push([Math.round(seconds * 10) / 10, progress.handled, progress.cursor])
      opts.onProgress?.(seconds, progress.handled)
      if (progress.cursor >= opts.events || seconds >= opts.timeLimitS) break
    }
    // Read once, right after the last reading of its progress: a scan of /proc ten times a second would cost more.
    const cpu1 = cpuSeconds(pid)
    const pg1 = opts.postgresPid ? treeCpuSeconds(opts.postgresPid) : null
    const peakRssMb = processMemory(pid)?.hwmMb ?? null
    const completed = progress.cursor >= opts.events
    let drainSeconds: number | null = null
    if (completed) {
      const drainStart = performance.now()
      const { complete } = await child.ask({ type: 'drain', limitMs: DRAIN_LIMIT_MS }, 'drained', DRAIN_LIMIT_MS + 10_000)
      if (complete) drainSeconds = (performance.now() - drainStart) / 1000
    }
    await child.ask({ type: 'stop', limitMs: STOP_LIMIT_MS }, 'stopped', STOP_LIMIT_MS + 10_000)
    const events = Math.min(progress.handled, opts.events)
    const records = await opts.recordsUpTo(events)
    const cpu = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null
    return {
      events,
      cursor: progress.cursor,
      received: progress.received,
      seconds,
      eventsPerSecond: events / seconds,
      records,
      recordsPerSecond: records / seconds,
      completed,
      drainSeconds,
      cpuSeconds: cpu,
      eventsPerCpuSecond: cpu ? events / cpu : null,
      postgresCpuSeconds: pg0 !== null && pg1 !== null ? pg1 - pg0 : null,
      peakRssMb,
      poolSize,
      timeline,
      rows: await countRows(opts.databaseUrl),
    }
  } finally {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL')
  }
}
