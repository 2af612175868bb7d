// Two processes under one INSTANCE_ID would each give back, as a previous life's, what the other holds. A second
// process under the id of a live one refuses to start; a restart under the id of one just killed starts at once.
import os from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'

let db: TestDatabase
const servers: ServerProcess[] = []

beforeAll(async () => {
  db = await testDatabase()
})

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL')
  await Promise.all(servers.map((s) => s.exited))
  await db?.drop()
})

async function server(): Promise<ServerProcess> {
  const s = spawnServer({
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    DATABASE_URL: db.url,
    FIREHOSE_ENABLED: 'false',
    BACKFILL_DAYS: '0',
    INSTANCE_ID: 'box1',
  })
  servers.push(s)
  return s
}

describe('INSTANCE_ID', () => {
  it('a second process under a live instance’s id exits 1 naming it; one under a killed instance’s id starts at once', async () => {
    const first = await server()
    await first.waitForLine(/^\[INSTANCE\] box1$/, 30_000)

    const second = await server()
    // Either it ends, or it starts serving (what it must not do).
    const listening = second.waitForLine(/^\[SERVER\] listening/, 30_000).then(() => ({ code: 'listening' as const }))
    const ended = await Promise.race([second.exited, listening.catch(() => new Promise<never>(() => {}))])
    expect(ended.code, second.lines.join('\n')).toBe(1)
    expect(second.lines).toContain(
      `[SERVER] could not start: INSTANCE_ID box1 is in use: the instance on ${os.hostname()} (pid ${first.proc.pid}) is live ` +
        'under it. Give every instance its own INSTANCE_ID, or leave it unset for an automatic one',
    )
    expect(second.lines.some((l) => l.startsWith('[SERVER] listening'))).toBe(false)

    first.kill('SIGKILL')
    await first.exited
    const started = Date.now()
    const third = await server()
    await third.waitForLine(/^\[INSTANCE\] box1$/, 30_000)
    // Its pid gone on this host, the killed one's row is a previous life: no waiting for it to lapse.
    expect(third.lines.filter((l) => l.includes('waiting for it to beat again or lapse'))).toEqual([])
    expect(Date.now() - started).toBeLessThan(20_000)
  }, 90_000)
})
