// `npm run demo` stopped as a terminal's Ctrl-C stops it (SIGINT to the whole foreground process group): skyfill is
// stopped before the PDS it reads from, so no connection is reported as a fault on the way out.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
let db: TestDatabase

beforeAll(async () => {
  db = await testDatabase()
})

afterAll(async () => {
  await db?.drop()
})

describe('the demo on Ctrl-C', () => {
  it('stops everything without a connection fault in its log', async () => {
    const demo = spawn(process.execPath, ['--env-file=server/node-options.env', '--import', 'tsx', 'scripts/demo.ts'], {
      cwd: ROOT,
      // A group of its own, as a shell gives a foreground job: the test can signal the whole group.
      detached: true,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        DATABASE_URL: db.url,
        PORT: String(await freePort()),
        DEMO_ACCOUNTS: '2',
        DEMO_ACTIONS: '5',
        DEMO_TRICKLE_MS: '200',
        BACKFILL_PROFILE: 'max',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const lines: string[] = []
    let ready!: () => void
    const isReady = new Promise<void>((resolve) => (ready = resolve))
    const collect = (chunk: Buffer) => {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      if (lines.some((l) => /\[FIREHOSE\].*live|\[DEMO\] backfill complete/.test(l)) && lines.some((l) => l.includes('Ctrl-C stops everything'))) ready()
    }
    demo.stdout.on('data', collect)
    demo.stderr.on('data', collect)
    const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)))
    try {
      await Promise.race([isReady, exited.then(() => Promise.reject(new Error(`demo exited:\n${lines.join('\n')}`)))])
      // The trickle has written something the live firehose is reading.
      await new Promise((r) => setTimeout(r, 1500))
      process.kill(-demo.pid!, 'SIGINT')
      expect(await exited, lines.join('\n')).toBe(0)
    } finally {
      try {
        process.kill(-demo.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    const afterSignal = lines.slice(lines.findIndex((l) => l.includes('SIGINT: shutting down')))
    expect(afterSignal.at(-1)).toBe('[DEMO] stopped')
    expect(afterSignal.filter((l) => /1006|disconnected|stopping .*:/.test(l))).toEqual([])
  }, 90_000)
})
