// A reference PDS whose seeded history has aged out of what it replays (every record has to come from the
// repositories), behind a counting repo proxy that the DID documents point to, and live writes to its accounts: for
// tests of the repository part in which every getRepo is counted and the per-host limits are measured at the host.
import { startPds, type PdsHandle } from '../harness/pds.js'
import { seedWorkload, type SeedOptions, type SeedSummary } from '../harness/seed.js'
import type { TestHttpServer } from './http-server.js'
import { startRepoProxy, startRewritingPlc, type RepoProxy } from './pds-proxy.js'

export type AgedPds = { pds: PdsHandle; seeded: SeedSummary; proxy: RepoProxy; plc: TestHttpServer; close(): Promise<void> }

export async function startAgedPds(seed: SeedOptions, replayMs = 2000): Promise<AgedPds> {
  const pds = await startPds({ repoBackfillLimitMs: replayMs })
  const seeded = await seedWorkload(pds.url, seed)
  await new Promise((r) => setTimeout(r, replayMs + 1000))
  const proxy = await startRepoProxy(pds.url)
  const plc = await startRewritingPlc(pds.plcUrl, seeded.dids, () => proxy.url)
  return {
    pds,
    seeded,
    proxy,
    plc,
    async close() {
      await Promise.all([plc.close(), proxy.close()])
      await pds.stop()
    },
  }
}

/** Live writes until stopped, round the seeded accounts: a post every `everyMs`, every third deleted again. */
export function startLiveWrites(seeded: SeedSummary, everyMs: number): { stop(): Promise<void> } {
  let writing = true
  const writer = (async () => {
    for (let n = 0; writing; n++) {
      const account = seeded.accounts[n % seeded.accounts.length]!
      const post = await account.agent.post({ text: `live ${n}`, createdAt: new Date().toISOString() })
      if (n % 3 === 0) await account.agent.deletePost(post.uri)
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return {
    async stop() {
      writing = false
      await writer
    },
  }
}
