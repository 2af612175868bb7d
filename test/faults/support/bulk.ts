// Many frames, fast: identities and accounts for `accounts` repos, then single-op commits (likes, posts, reposts,
// follows, some deletes of earlier records) built by commitFrame. Unsigned and without MST blocks, which the lean
// decoder does not read, so tens of thousands take a few seconds instead of the minute the signing generator
// needs: for load, where the content matters less than its volume.
import { TID } from '@atproto/common'
import { cidForLex } from '@atproto/lex-cbor'
import type { StoredFrame } from '../../../bench/source/store.js'
import { createRng } from '../../harness/seed.js'
import { accountFrame, commitFrame, identityFrame, type Write } from './commits.js'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

export function bulkDid(seed: number, index: number): string {
  const r = createRng(seed * 7919 + index)
  let id = ''
  for (let i = 0; i < 24; i++) id += r.pick([...BASE32])
  return `did:plc:${id}`
}

export async function bulkFrames(opts: { accounts: number; events: number; seed?: number }): Promise<StoredFrame[]> {
  const seed = opts.seed ?? 1
  const r = createRng(seed)
  const dids = Array.from({ length: opts.accounts }, (_, i) => bulkDid(seed, i))
  const start = Date.UTC(2025, 0, 1)
  const time = (seq: number) => new Date(start + seq * 100).toISOString()
  const cid = (await cidForLex({ bulk: seed })).toString()
  const posts: string[] = []
  const owned = new Map<string, Write[]>()
  const frames: StoredFrame[] = []
  let micros = start * 1000
  const tid = () => TID.fromTime((micros += 1000), 7).toString()
  for (const [i, did] of dids.entries()) {
    if (frames.length >= opts.events) break
    frames.push({ seq: frames.length + 1, bytes: identityFrame(frames.length + 1, did, `bulk${i}.skyfill.test`, time(frames.length + 1)) })
    if (frames.length >= opts.events) break
    frames.push({ seq: frames.length + 1, bytes: accountFrame(frames.length + 1, did, time(frames.length + 1)) })
  }
  while (frames.length < opts.events) {
    const seq = frames.length + 1
    const did = r.pick(dids)
    const mine = owned.get(did) ?? []
    const createdAt = time(seq)
    const roll = r.next()
    let write: Write
    const rkey = tid()
    if (roll < 0.05 && mine.length > 0) {
      const [gone] = mine.splice(r.int(0, mine.length - 1), 1)
      write = { action: 'delete', collection: gone!.collection, rkey: gone!.rkey }
    } else if (roll < 0.5 && posts.length > 0) {
      write = { action: 'create', collection: 'app.bsky.feed.like', rkey, record: { $type: 'app.bsky.feed.like', subject: { uri: r.pick(posts), cid }, createdAt } }
    } else if (roll < 0.75 || posts.length === 0) {
      write = { action: 'create', collection: 'app.bsky.feed.post', rkey, record: { $type: 'app.bsky.feed.post', text: `bulk post ${seq}`, langs: ['en'], createdAt } }
      posts.push(`at://${did}/app.bsky.feed.post/${rkey}`)
    } else if (roll < 0.85) {
      write = { action: 'create', collection: 'app.bsky.feed.repost', rkey, record: { $type: 'app.bsky.feed.repost', subject: { uri: r.pick(posts), cid }, createdAt } }
    } else {
      write = { action: 'create', collection: 'app.bsky.graph.follow', rkey, record: { $type: 'app.bsky.graph.follow', subject: r.pick(dids), createdAt } }
    }
    if (write.action === 'create') {
      mine.push(write)
      if (mine.length > 32) mine.shift()
      owned.set(did, mine)
    }
    frames.push({ seq, bytes: await commitFrame({ seq, did, rev: tid(), time: createdAt, writes: [write] }) })
  }
  return frames
}
