// A malformed setting stops the server before it touches anything: exit code 1 and exactly one `[CONFIG]` line that
// names the variable (and what it accepts). An unknown BACKFILL_* variable is only a warning. Each case runs the
// real entry point as its own process, as `npm start` does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer } from '../harness/server-process.js'

/** Everything a start needs, valid; each case spoils one variable. No database is ever reached before parsing. */
const VALID = {
  HOST: '127.0.0.1',
  PORT: '1',
  DATABASE_URL: 'postgres://postgres:skyfill@127.0.0.1:1/none',
  RELAY_URL: 'ws://127.0.0.1:1',
  FIREHOSE_ENABLED: 'false',
  BACKFILL_DAYS: '0',
}

const MALFORMED: [variable: string, value: string][] = [
  ['PORT', 'eighty'],
  ['DATABASE_URL', 'mysql://root@127.0.0.1/skyfill'],
  ['RELAY_URL', 'wss://relay.example.com/some/other/path'],
  ['BACKFILL_DAYS', 'seven'],
  ['BACKFILL_PROFILE', 'turbo'],
  ['BACKFILL_BATCH_SIZE', '0'],
  ['BACKFILL_USE_IDLE', 'sometimes'],
  ['BACKFILL_SCHEDULE', 'nights only'],
]

type Outcome = { exit: { code: number | null; signal: NodeJS.Signals | null }; output: string[] }
const outcomes = new Map<string, Outcome>()

describe('malformed configuration', () => {
  // Every start loads the whole server before it parses (about 2 s of CPU each): a few at a time, up front.
  beforeAll(async () => {
    const queue = [...MALFORMED]
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [variable, value] = next
        const server = spawnServer({ ...VALID, [variable]: value })
        const exit = await server.exited
        outcomes.set(variable, { exit, output: server.lines.filter((l) => l.trim() !== '') })
      }
    }
    await Promise.all([worker(), worker(), worker()])
  }, 120_000)

  it.each(MALFORMED)('%s=%j: the server exits with code 1 and exactly one [CONFIG] line naming the variable', (variable, value) => {
    const { exit, output } = outcomes.get(variable)!
    expect(exit).toEqual({ code: 1, signal: null })
    const config = output.filter((l) => l.startsWith('[CONFIG]'))
    expect(config).toHaveLength(1)
    expect(config[0]).toMatch(new RegExp(`^\\[CONFIG\\] ${variable} must be .+, got ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}$`))
    // Nothing else: no stack trace, no attempt to start.
    expect(output).toEqual(config)
  })
})

describe('an unknown BACKFILL_ variable', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await testDatabase()
  })
  afterAll(async () => {
    await db?.drop()
  })

  it('BACKFILL_FOO=1: the server starts and says, in one warning line, that it ignores BACKFILL_FOO', async () => {
    const port = await freePort()
    const server = spawnServer({ ...VALID, PORT: String(port), DATABASE_URL: db.url, BACKFILL_FOO: '1' })
    try {
      await server.waitForLine(/\[SERVER\] listening on/, 30_000)
      const warnings = server.lines.filter((l) => l.startsWith('[CONFIG]'))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/^\[CONFIG\] unknown variable BACKFILL_FOO is ignored/)
      const health = await fetch(`http://127.0.0.1:${port}/health`)
      expect(health.status).toBe(200)
      server.kill('SIGTERM')
      expect(await server.exited).toEqual({ code: 0, signal: null })
    } finally {
      server.kill('SIGKILL')
    }
  })
})
