// The machine's limit on the bench's workload, measured before the modes: each part of the replay alone, with the
// parallelism the server gives it, and never both at once. Chunk by chunk, the frames are read into memory
// (not timed), decoded (timed: the decode part), then written (timed: the write part), so neither part ever waits for
// the other and memory stays bounded by one chunk. Both parts use the server's own modules:
// - decode: the configured frame decoder (server/pipeline/decoder/, `lean` by default) turning frames into pipeline
//   items, and the Batcher cutting them into batches of the profile's size, on one thread, as the pipeline's loop does;
// - write: the indexer's BatchWriter on a fresh, migrated database, through the server's own backfill pool: each
//   batch's planning (validation, mapping to rows, prepare.ts) and its transaction, with the cursor, up to the
//   profile's BACKFILL_MAX_CONCURRENT batches in flight (the server's Semaphore) and the cursor moved past committed
//   batches only (its CommitTracker), as the pipeline dispatches them.
// Runs in a process of its own (limit-child.ts), so its heap and its CPU are the limit's alone.
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import path from 'node:path'
import type { ThrottleSettings } from '../../server/config/profiles.js'
import type { DecoderName } from '../../server/config/index.js'
import { createPool } from '../../server/db/pools.js'
import { migrate } from '../../server/db/migrate.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { Batcher, type Batch } from '../../server/pipeline/batcher.js'
import { CommitTracker } from '../../server/pipeline/commit-tracker.js'
import { createDecoder } from '../../server/pipeline/decoder/index.js'
import { Semaphore } from '../../server/pipeline/semaphore.js'
import { openWorkload } from '../source/store.js'
import { limitRate } from './figures.js'
import { treeCpuSeconds } from './proc.js'
import { ROOT } from './paths.js'

export type LimitOptions = {
  workloadPath: string
  databaseUrl: string
  decoder: DecoderName
  settings: Pick<ThrottleSettings, 'batchSize' | 'maxConcurrent' | 'dbPoolSize'>
  /** At most this many frames from the start of the workload; null: all of it. */
  events: number | null
  /** Frames decoded, then written, per step. */
  chunkFrames: number
  /** The cluster's postmaster, whose backends' CPU the write part is charged with too; null: not counted. */
  postmasterPid: number | null
}

export type LimitResult = {
  decoder: DecoderName
  events: number
  batchSize: number
  concurrency: number
  decodeSeconds: number
  /** CPU seconds of this process while decoding (one thread's work plus GC helpers). */
  decodeCpuSeconds: number
  writeSeconds: number
  /** CPU seconds while writing: this process's (planning, the pg driver) and Postgres's (postmaster and backends). */
  writeCpuSeconds: { writer: number; postgres: number | null }
  /** Rows upserted and deleted by the write part. */
  recordsWritten: number
  /** Frames per second of decoding alone: `d`. */
  decodePerSecond: number
  /** Frames per second of writing alone: `w`. */
  writePerSecond: number
  /** Records per second of writing alone. */
  recordsPerSecond: number
  /** Frames per CPU-second of decoding: what `d` would be on a core of its own (a shared machine's wall rate is not). */
  decodePerCpuSecond: number
  /** Frames per CPU-second of writing, the writer's and Postgres's together. */
  writePerCpuSecond: number | null
  /** 1 / (1/d + 1/w): the rate if the machine did nothing but decode and write, never waiting. */
  eventsPerSecond: number
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits
const cpuNow = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** The cursor name the write part commits, as a backfill's writer does with its own. */
const CURSOR = 'bench-limit'

export async function measureLimit(opts: LimitOptions): Promise<LimitResult> {
  const store = await openWorkload(opts.workloadPath)
  const total = Math.min(store.headSeq, opts.events ?? store.headSeq)
  const decoder = createDecoder(opts.decoder, { plcUrl: 'http://127.0.0.1:9', log: console.error })
  const pool = createPool(opts.databaseUrl, 'backfill', opts.settings.dbPoolSize)
  await migrate(pool)
  const writer = new BatchWriter(pool, 'backfill', ACCOUNT_ROW_LOCKS)
  const semaphore = new Semaphore(opts.settings.maxConcurrent)
  const tracker = new CommitTracker(null)
  const batcher = new Batcher()
  let decodeMs = 0
  let decodeCpu = 0
  let writeMs = 0
  let writeCpu = 0
  let postgresCpu: number | null = opts.postmasterPid === null ? null : 0
  const postgresNow = () => (opts.postmasterPid === null ? null : treeCpuSeconds(opts.postmasterPid))
  let records = 0
  let events = 0
  const frames = store.frames(0)[Symbol.asyncIterator]()
  try {
    while (events < total) {
      const chunk: Uint8Array[] = []
      while (chunk.length < opts.chunkFrames && events + chunk.length < total) {
        const next = await frames.next()
        if (next.done) break
        chunk.push(next.value.bytes)
      }
      if (chunk.length === 0) break

      const batches: Batch[] = []
      const c0 = cpuNow()
      const t0 = performance.now()
      for (const bytes of chunk) {
        const result = await decoder.decode(bytes)
        if (result.kind !== 'frame') continue
        batcher.add(result.frame)
        if (batcher.isFull(opts.settings.batchSize)) batches.push(batcher.take())
      }
      // A partial batch waits for the next chunk's frames, as the pipeline's does for the next frames, except at the end.
      const lastChunk = chunk.length < opts.chunkFrames || events + chunk.length >= total
      if (batcher.size > 0 && lastChunk) batches.push(batcher.take())
      decodeMs += performance.now() - t0
      decodeCpu += cpuNow() - c0

      const t1 = performance.now()
      const c1 = cpuNow()
      const pg1 = postgresNow()
      const inFlight = new Set<Promise<void>>()
      for (const batch of batches) {
        await semaphore.acquire()
        const id = tracker.dispatch(batch.lastSeq)
        const task = writer
          .write(batch.items, batch.lastSeq, { name: CURSOR, afterSeq: batch.afterSeq, seqAtCommit: () => tracker.seqIfCommitted(id) })
          .then((outcome) => {
            tracker.complete(id)
            records += outcome.upserted + outcome.deleted
          })
          .finally(() => {
            semaphore.release()
            inFlight.delete(task)
          })
        inFlight.add(task)
      }
      await Promise.all([...inFlight])
      writeMs += performance.now() - t1
      writeCpu += cpuNow() - c1
      const pg2 = postgresNow()
      postgresCpu = postgresCpu === null || pg1 === null || pg2 === null ? null : postgresCpu + (pg2 - pg1)
      events += chunk.length
    }
  } finally {
    await frames.return?.()
    await pool.end()
  }
  if (events === 0) throw new Error(`the workload ${opts.workloadPath} has no frames to measure the limit on`)
  const d = events / (decodeMs / 1000)
  const w = events / (writeMs / 1000)
  return {
    decoder: opts.decoder,
    events,
    batchSize: opts.settings.batchSize,
    concurrency: opts.settings.maxConcurrent,
    decodeSeconds: round(decodeMs / 1000, 2),
    decodeCpuSeconds: round(decodeCpu, 2),
    writeSeconds: round(writeMs / 1000, 2),
    writeCpuSeconds: { writer: round(writeCpu, 2), postgres: postgresCpu === null ? null : round(postgresCpu, 2) },
    recordsWritten: records,
    decodePerSecond: Math.round(d),
    writePerSecond: Math.round(w),
    recordsPerSecond: Math.round(records / (writeMs / 1000)),
    decodePerCpuSecond: Math.round(events / decodeCpu),
    writePerCpuSecond: postgresCpu === null ? null : Math.round(events / (writeCpu + postgresCpu)),
    eventsPerSecond: Math.round(limitRate(d, w)),
  }
}

/** Runs measureLimit in a child process (node --import tsx, like the server), its stderr going to `logPath`. */
export async function spawnLimit(opts: LimitOptions, logPath: string, timeoutMs: number): Promise<LimitResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run/limit-child.ts'), JSON.stringify(opts)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = createWriteStream(logPath)
  child.stderr.pipe(log)
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  log.end()
  const line = out.trim().split('\n').at(-1) ?? ''
  if (code !== 0 || !line.startsWith('{')) {
    throw new Error(`the limit's measurement exited with ${code ?? 'a signal (timed out after ' + timeoutMs / 1000 + ' s?)'}; see ${path.relative(process.cwd(), logPath)}`)
  }
  return JSON.parse(line) as LimitResult
}
