// One signed repository as a PDS's getRepo would serve it, built with @atproto/repo: app.bsky records with TID rkeys
// (a profile, then posts, likes, reposts, follows and blocks in a social network's proportions), the MST over them,
// and a signed commit, as one CAR (commit, then MST nodes, then records). Records are valid lexicon shapes
// (bench/source/records.ts), so everything a repository holds is indexed.
import '../source/mst-cache.js'
import { TID } from '@atproto/common'
import type { Secp256k1Keypair } from '@atproto/crypto'
import { BlockMap, blocksToCarFile, DataDiff, MemoryBlockstore, MST, signCommit } from '@atproto/repo'
import { block, follow, like, post, profile, repost, type RecordValue, type StrongRef } from '../source/records.js'
import type { Rng } from '../source/prng.js'

export type BuiltRepo = { car: Uint8Array; rev: string; commitCid: string; counts: Record<string, number> }

/** What the repositories refer to: other accounts' DIDs, and recent posts of any repository built so far. */
export type Neighbourhood = { dids: readonly string[]; recentPosts: StrongRef[] }

const RECENT_POSTS = 5000
const START_US = Date.UTC(2023, 0, 1) * 1000

export async function buildRepo(
  account: { did: string; handle: string },
  keypair: Secp256k1Keypair,
  records: number,
  rng: Rng,
  around: Neighbourhood,
): Promise<BuiltRepo> {
  const leaves = new BlockMap()
  const entries: { key: string; cid: Awaited<ReturnType<BlockMap['add']>> }[] = []
  const counts: Record<string, number> = {}
  let clockUs = START_US + rng.int(1_000_000_000)
  const add = async (collection: string, rkey: string, record: RecordValue) => {
    const cid = await leaves.add(record)
    entries.push({ key: `${collection}/${rkey}`, cid })
    counts[collection] = (counts[collection] ?? 0) + 1
    return cid
  }
  const at = () => new Date(Math.floor(clockUs / 1000)).toISOString()
  await add('app.bsky.actor.profile', 'self', profile(rng, account.handle, at()))
  for (let i = 1; i < records; i++) {
    clockUs += 1 + rng.int(30_000_000)
    const rkey = TID.fromTime(clockUs, rng.int(32)).toString()
    const kind = rng.next()
    const subject = around.recentPosts.length > 0 ? around.recentPosts[around.recentPosts.length - 1 - rng.int(around.recentPosts.length)] : null
    if (kind < 0.35 || !subject) {
      const cid = await add('app.bsky.feed.post', rkey, post(rng, { createdAt: at(), link: rng.chance(0.05), tag: rng.chance(0.05) }))
      around.recentPosts.push({ uri: `at://${account.did}/app.bsky.feed.post/${rkey}`, cid: cid.toString() })
      if (around.recentPosts.length > RECENT_POSTS) around.recentPosts.splice(0, RECENT_POSTS / 2)
    } else if (kind < 0.7) {
      await add('app.bsky.feed.like', rkey, like(subject, at()))
    } else if (kind < 0.8) {
      await add('app.bsky.feed.repost', rkey, repost(subject, at()))
    } else if (kind < 0.98) {
      await add('app.bsky.graph.follow', rkey, follow(rng.pick(around.dids), at()))
    } else {
      await add('app.bsky.graph.block', rkey, block(rng.pick(around.dids), at()))
    }
  }
  // Added in key order: the cheapest order for the MST, and the tree is the same whatever the order.
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  let data = await MST.create(new MemoryBlockstore())
  for (const e of entries) data = await data.add(e.key, e.cid)
  const rev = TID.fromTime(clockUs + 1, 0).toString()
  const commit = await signCommit({ did: account.did, version: 3, rev, prev: null, data: await data.getPointer() }, keypair)
  const blocks = new BlockMap()
  const commitCid = await blocks.add(commit)
  blocks.addMap((await DataDiff.of(data, null)).newMstBlocks)
  blocks.addMap(leaves)
  return { car: await blocksToCarFile(commitCid, blocks), rev, commitCid: commitCid.toString(), counts }
}
