// What an idle server (`npm start`, backfill and firehose off, default settings) keeps in memory: every MB of it
// is under the peak of a replay or a repo walk too. The real entry point runs as its own process with a probe
// loaded first (test/support/idle-memory-probe.mjs) that lists the packages it resolved and weighs the heap, on the
// main thread and on the API thread (server/api-thread/), each a V8 heap of its own.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer } from '../harness/server-process.js'

type Weight = { packages: string[]; heapUsedMb: number }
type IdleReport = Weight & { sourceMaps: { enabled: boolean; nodeModules: boolean }; heapLimitMb: number; threads: Weight[] }

let db: TestDatabase
let dir: string
let report: IdleReport

beforeAll(async () => {
  db = await testDatabase()
  dir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-idle-'))
  const out = path.join(dir, 'report.json')
  const server = spawnServer(
    { HOST: '127.0.0.1', PORT: String(await freePort()), DATABASE_URL: db.url, FIREHOSE_ENABLED: 'false', BACKFILL_DAYS: '0', IDLE_PROBE_OUT: out },
    ['--expose-gc', '--import', './test/support/idle-memory-probe.mjs'],
  )
  try {
    await server.waitForLine(/^\[INSTANCE\] /, 30_000)
    server.kill('SIGUSR2')
    for (let waited = 0; !existsSync(out) && waited < 10_000; waited += 100) await sleep(100)
    report = JSON.parse(readFileSync(out, 'utf8')) as IdleReport
  } finally {
    server.kill('SIGKILL')
    await server.exited
  }
}, 60_000)

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  await db?.drop()
})

describe('an idle server with the default lean decoder', () => {
  it('loads neither @atproto/sync nor @atproto/identity, nor the HTTP clients they bring', () => {
    // Measured: @atproto/sync with xrpc-server, pino, OpenTelemetry and undici 6, 7 and 8 is ~21 MB of heap.
    const unwanted = ['@atproto/sync', '@atproto/identity', '@atproto/xrpc-server', '@atproto-labs/fetch-node', 'undici_v6', 'undici_v7', 'undici_v8']
    expect(report.packages.filter((p) => unwanted.includes(p))).toEqual([])
    expect(report.packages).toContain('@atproto/lexicon')
  })

  it('maps stack traces of its own TypeScript only, not of every library', () => {
    expect(report.sourceMaps).toMatchObject({ enabled: true, nodeModules: false })
  })

  it('has one thread of its own besides the main one, the API thread, which loads no part of the backfill', () => {
    expect(report.threads).toHaveLength(1)
    const api = report.threads[0]!
    expect(api.packages).toContain('express')
    // The WebSocket client, the lexicon validators and @atproto/common (with pino) are the backfill's; measured when
    // the API thread still loaded them through three constants: 18.7 MB of heap instead of 14.1.
    const backfills = ['ws', '@atproto/lexicon', '@atproto/common', 'pino', '@atproto/sync', '@atproto/identity', 'undici_v6', 'undici_v7', 'undici_v8']
    expect(api.packages.filter((p) => backfills.includes(p))).toEqual([])
    expect(api.heapUsedMb).toBeLessThan(18)
  })

  it('holds less than 30 MB of heap after a full collection', () => {
    // The main thread's. Measured on one machine: 25.3 MB when it also served HTTP, 21.5 MB since; 30.5 MB with
    // @atproto/api's whole index (server/indexer/validate.ts), 49.2 MB with that, both packages above and every
    // library's source map.
    expect(report.heapUsedMb).toBeLessThan(30)
  })

  it('runs with the heap limit server/node-options.env sets, not V8\'s default for a large machine', () => {
    // 1,072 MB here (1,024 of old space and the young generation); V8's own default on this 23.5 GiB machine: 4,144.
    expect(report.heapLimitMb).toBeGreaterThan(1024)
    expect(report.heapLimitMb).toBeLessThan(1200)
  })
})
