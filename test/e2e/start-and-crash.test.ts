// The server as users run it (node with server/entry-args.ts, what `npm start` executes): on the embedded
// Postgres by default, surviving kill -9, and printing the documented [BACKFILL] lines.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { freePort } from '../harness/postgres.js'
import { seedWorkload } from '../harness/seed.js'
import { spawnServer } from '../harness/server-process.js'

let pds: PdsHandle
let dataDir: string

beforeAll(async () => {
  pds = await startPds()
  await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 20, seed: 11 })
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-start-'))
  // The embedded Postgres runs as an unprivileged user when we are root; it must be able to reach its data dir.
  await fs.chmod(dataDir, 0o755)
}, 120_000)

afterAll(async () => {
  await pds?.stop()
  await fs.rm(dataDir, { recursive: true, force: true })
})

async function health(url: string): Promise<{ status: number; body: { database?: string } }> {
  const res = await fetch(`${url}/health`)
  return { status: res.status, body: await res.json() }
}

describe('starting as a user does', () => {
  it('serves /health on the embedded Postgres, and after kill -9 comes up again on the same data', async () => {
    const env = {
      HOST: '127.0.0.1',
      PG_DATA_DIR: path.join(dataDir, 'pg'),
      PG_PORT: String(await freePort()),
      RELAY_URL: pds.url,
      BACKFILL_DAYS: '-1',
      BACKFILL_PROFILE: 'max',
      FIREHOSE_ENABLED: 'false',
    }
    const port = String(await freePort())
    const first = spawnServer({ ...env, PORT: port })
    await first.waitForLine(/\[SERVER\] listening on/)
    expect(first.lines).toContain(`[DB] embedded Postgres on 127.0.0.1:${env.PG_PORT}, data in ${env.PG_DATA_DIR}`)
    expect(await health(`http://127.0.0.1:${port}`)).toEqual({ status: 200, body: expect.objectContaining({ database: 'ok' }) })
    await first.waitForLine(/\[BACKFILL\] Complete: reached head seq \d+/)
    const dbUrl = `postgres://postgres:skyfill@127.0.0.1:${env.PG_PORT}/postgres`
    const countPosts = async () => {
      const client = new pg.Client({ connectionString: dbUrl })
      await client.connect()
      try {
        return Number((await client.query('SELECT count(*) FROM posts')).rows[0].count)
      } finally {
        await client.end()
      }
    }
    const posts = await countPosts()
    expect(posts).toBeGreaterThan(0)

    first.kill('SIGKILL')
    await first.exited
    const second = spawnServer({ ...env, PORT: port })
    try {
      await second.waitForLine(/\[SERVER\] listening on/)
      // The postmaster left behind by the killed server was stopped and the same data came back.
      expect(second.lines.some((l) => /\[DB\] stopping a Postgres left running by a previous start/.test(l))).toBe(true)
      expect(second.lines.some((l) => l.includes('initialising embedded Postgres'))).toBe(false)
      expect(await health(`http://127.0.0.1:${port}`)).toEqual({ status: 200, body: expect.objectContaining({ database: 'ok' }) })
      await second.waitForLine(/\[BACKFILL\] Complete: this window was backfilled up to seq \d+/)
      expect(await countPosts()).toBe(posts)
    } finally {
      second.kill('SIGTERM')
      await second.exited
    }
  })

  it('BACKFILL_DAYS=7 prints the documented [BACKFILL] lines', async () => {
    const port = String(await freePort())
    const server = spawnServer({
      HOST: '127.0.0.1',
      PORT: port,
      PG_DATA_DIR: path.join(dataDir, 'pg7'),
      PG_PORT: String(await freePort()),
      RELAY_URL: pds.url,
      BACKFILL_DAYS: '7',
      BACKFILL_BATCH_DELAY_MS: '50',
      FIREHOSE_ENABLED: 'false',
      // The repositories of the window's older part are fetched from the PDS its DID documents name.
      PLC_URL: pds.plcUrl,
      HANDLE_RESOLVER_URL: pds.url,
      ALLOW_PRIVATE_HOSTS: 'true',
    })
    try {
      await server.waitForLine(/\[BACKFILL\] Complete: reached head seq \d+/, 90_000)
      await server.waitForLine(/\[BACKFILL\] Repos complete/, 90_000)
      const backfill = server.lines.filter((l) => l.startsWith('[BACKFILL]'))
      const expected = [
        /^\[BACKFILL\] Resource throttling config:$/,
        /^\[BACKFILL\] {3}profile: background; set explicitly: BACKFILL_BATCH_DELAY_MS$/,
        /^\[BACKFILL\] {3}batch size: 5 events, delay between batches: 50 ms$/,
        /^\[BACKFILL\] {3}max concurrent DB operations: 2 \(pool 2\)$/,
        /^\[BACKFILL\] {3}memory limit: 512 MB RSS/,
        /^\[BACKFILL\] Window: 7 days asked \(from .*\), but the source holds [\d.]+ (seconds|minutes|hours) of history \(from .*, seq 1\) up to head seq \d+; replaying all of it, and fetching from the repositories what changed since/,
        /^\[BACKFILL\] Replaying from cursor 0 to head \d+$/,
        /^\[BACKFILL\] Progress: 100\.0% cursor (\d+)\/\1, \d+ events written, 0 rejected \(\d+ evt\/s/,
        /^\[BACKFILL\] Memory: \d+ MB \/ 512 MB limit$/,
        /^\[BACKFILL\] Complete: reached head seq \d+; \d+ events written, 0 rejected, \d+ skipped$/,
        /^\[BACKFILL\] Repos: fetching what changed since rev \w+ from relay$/,
        /^\[BACKFILL\] Repos complete: \d+ fetched, 0 unavailable, 0 failed; \d+ records written$/,
      ]
      for (const pattern of expected) expect(backfill.some((l) => pattern.test(l)), String(pattern)).toBe(true)
    } finally {
      server.kill('SIGTERM')
      await server.exited
    }
  })
})
