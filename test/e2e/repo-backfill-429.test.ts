// A host that answers getRepo with 429 and Bluesky's rate-limit headers is parked until the reset it named, and
// resumed then, while another host's repositories are fetched meanwhile. One reference PDS (its history aged out of
// replay) sits behind two hosts: the DID documents send two accounts to a proxy that refuses until the reset, and the
// other three to a proxy that forwards. To skyfill's per-host limiter they are two hosts, as two PDSes would be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { HostSnapshot } from '../../server/net/host-limiter.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import { seedWorkload } from '../harness/seed.js'
import { startBackfill, until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'
import type { TestHttpServer } from '../support/http-server.js'
import { startRepoProxy, startRewritingPlc, type RepoProxy } from '../support/pds-proxy.js'

const REPLAY_MS = 2000
/** Seconds from the first refused request to the reset the host names. */
const PARK_S = 4
let pds: PdsHandle
let refusing: RepoProxy
let going: RepoProxy
let plc: TestHttpServer
let parkedDids: string[]
let goingDids: string[]
/** The reset the refusing host names, epoch ms (a whole second, as ratelimit-reset is in seconds). */
let resetAt: number | null = null

beforeAll(async () => {
  pds = await startPds({ repoBackfillLimitMs: REPLAY_MS })
  const seeded = await seedWorkload(pds.url, { accounts: 5, actionsPerAccount: 25, seed: 31 })
  await new Promise((r) => setTimeout(r, REPLAY_MS + 1000))
  parkedDids = seeded.dids.slice(0, 2)
  goingDids = seeded.dids.slice(2)
  refusing = await startRepoProxy(pds.url, (_did, res) => {
    resetAt ??= (Math.ceil(Date.now() / 1000) + PARK_S) * 1000
    if (Date.now() >= resetAt) return false
    res
      .writeHead(429, {
        'content-type': 'application/json',
        'ratelimit-limit': '3000',
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(resetAt / 1000),
        'ratelimit-policy': '3000;w=300',
      })
      .end(JSON.stringify({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }))
    return true
  })
  going = await startRepoProxy(pds.url)
  plc = await startRewritingPlc(pds.plcUrl, seeded.dids, (did) => (parkedDids.includes(did) ? refusing.url : going.url))
}, 120_000)

afterAll(async () => {
  await Promise.all([plc?.close(), refusing?.close(), going?.close()])
  await pds?.stop()
})

describe('a host that answers 429 with rate-limit headers', () => {
  it('is parked until its reset and resumed then, while the other host finishes meanwhile', async () => {
    const run = await startBackfill(pds.url, {
      PLC_URL: plc.url,
      HANDLE_RESOLVER_URL: pds.url,
      ALLOW_PRIVATE_HOSTS: 'true',
      BACKFILL_DAYS: 'all',
      BACKFILL_PROFILE: 'max',
      // Fewer workers than repositories. A worker holding a repository of a parked host waits with it, so the other
      // host goes on only while the parked one holds fewer than all the workers: here two of three.
      BACKFILL_REPO_CONCURRENCY: '3',
    })
    try {
      const refusingHost = new URL(refusing.url).host
      let parked: HostSnapshot | undefined
      await until(
        () => {
          parked = run.sky.backfill.getProgress().repos?.hosts.find((h) => h.host === refusingHost && h.parkedUntil !== null)
          return parked !== undefined
        },
        30_000,
        'the refusing host to be parked',
      )
      expect(parked).toMatchObject({ parkedUntil: resetAt, reason: '429 with ratelimit-reset' })
      await run.sky.backfill.whenDone()
      expect(run.sky.backfill.getProgress().state).toBe('complete')

      const parkLines = run.lines.filter((l) => l.includes(`[BACKFILL] Host ${refusingHost} parked until`))
      expect(parkLines).toEqual([`[BACKFILL] Host ${refusingHost} parked until ${new Date(resetAt!).toISOString()} (429 with ratelimit-reset); its requests wait until then, other hosts go on`])
      expect(run.lines.some((l) => l.includes(`Host ${new URL(going.url).host} parked`))).toBe(false)

      // Refused until the reset, then asked again at once: not before, and not long after.
      const refused = refusing.getRepos.filter((r) => r.status === 429)
      const served = refusing.getRepos.filter((r) => r.status === 200)
      expect(refused.length).toBeGreaterThanOrEqual(1)
      expect(refused.every((r) => r.at < resetAt!)).toBe(true)
      expect(served.map((r) => r.did).sort()).toEqual([...parkedDids].sort())
      expect(Math.min(...served.map((r) => r.at))).toBeGreaterThanOrEqual(resetAt!)
      expect(Math.max(...served.map((r) => r.at))).toBeLessThan(resetAt! + 1500)

      const { rows } = await run.pool.query<{ did: string; state: string; attempts: number; done_at: Date }>(
        'SELECT did, state, attempts, done_at FROM repos ORDER BY did',
      )
      expect(rows.map((r) => [r.state, r.attempts])).toEqual(rows.map(() => ['done', 0]))
      const doneAt = (did: string) => rows.find((r) => r.did === did)!.done_at.getTime()
      // The other host's repositories were all fetched while the refusing one was parked...
      expect(going.getRepos.map((r) => r.did).sort()).toEqual([...goingDids].sort())
      for (const did of goingDids) expect(doneAt(did)).toBeLessThan(resetAt!)
      // ...and the parked host's right after its reset.
      for (const did of parkedDids) {
        expect(doneAt(did)).toBeGreaterThanOrEqual(resetAt!)
        expect(doneAt(did)).toBeLessThan(resetAt! + 3000)
      }

      const truth = await dumpPdsRepos(pds.url)
      expect(truth.total).toBeGreaterThan(50)
      expect(await compareWithPds(run.pool, truth)).toEqual([])
    } finally {
      await run.close()
    }
  }, 60_000)
})
