// A start that cannot succeed says why in one `[SERVER] could not start:` line naming the setting to change, and
// exits 1. Each case runs the real entry point as its own process, as `npm start` does.
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer } from '../harness/server-process.js'

let db: TestDatabase

beforeAll(async () => {
  db = await testDatabase()
})

afterAll(async () => {
  await db?.drop()
})

const BASE = { HOST: '127.0.0.1', RELAY_URL: 'ws://127.0.0.1:1', FIREHOSE_ENABLED: 'false', BACKFILL_DAYS: '0' }

async function failedStart(env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
  const server = spawnServer({ ...BASE, ...env })
  // A server that wrongly keeps running fails the test, not the timeout.
  const timer = setTimeout(() => server.kill('SIGKILL'), 20_000)
  const { code } = await server.exited
  clearTimeout(timer)
  // The [INSTANCE] line goes to stdout first; whether it is flushed before exit(1) depends on timing.
  return { code, lines: server.lines.filter((l) => l.trim() !== '' && !l.startsWith('[INSTANCE] ')) }
}

describe('a start that cannot succeed', () => {
  it('names PORT when the port is taken, instead of claiming to listen', async () => {
    const holder = net.createServer()
    const port = await freePort()
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve))
    try {
      const { code, lines } = await failedStart({ PORT: String(port), DATABASE_URL: db.url })
      expect(lines.filter((l) => l.startsWith('[SERVER]'))).toEqual([
        `[SERVER] could not start: PORT ${port} on 127.0.0.1 is already in use: stop what holds it, or set PORT to another port`,
      ])
      expect(code).toBe(1)
    } finally {
      holder.close()
    }
  })

  it('names DATABASE_URL, password masked, when it points nowhere', async () => {
    const { code, lines } = await failedStart({ PORT: String(await freePort()), DATABASE_URL: 'postgres://skyfill:hunter2@127.0.0.1:1/skyfill' })
    expect(lines).toEqual([
      '[SERVER] could not start: DATABASE_URL postgres://skyfill:***@127.0.0.1:1/skyfill: connect ECONNREFUSED 127.0.0.1:1' +
        ' (check DATABASE_URL, or unset it to use the embedded Postgres)',
    ])
    expect(code).toBe(1)
  })

  it('names DATABASE_URL when the database there does not exist', async () => {
    const missing = new URL(db.url)
    missing.pathname = '/no_such_database'
    const { code, lines } = await failedStart({ PORT: String(await freePort()), DATABASE_URL: missing.toString() })
    expect(lines).toEqual([expect.stringMatching(/^\[SERVER\] could not start: DATABASE_URL postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/no_such_database: database "no_such_database" does not exist/)])
    expect(code).toBe(1)
  })
})
