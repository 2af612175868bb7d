// A slow, steady stream of ordinary app.bsky writes by the seeded accounts (posts, replies, likes, reposts, follows,
// now and then a deletion), so the live firehose has something to show after the backfill reaches the head.
import type { SeededAccount } from '../../test/harness/seed.js'
import { createRng } from '../../test/harness/seed.js'

type Ref = { uri: string; cid: string }

export type TrickleOptions = {
  accounts: SeededAccount[]
  /** Live posts to reply to, like and repost (uri → cid), e.g. the seed summary's expected posts. */
  posts: Map<string, string>
  /** Mean pause between writes. */
  intervalMs: number
  seed?: number
  onError?: (err: unknown) => void
}

export type Trickle = {
  /** Writes done so far, by kind. */
  readonly counts: Readonly<Record<string, number>>
  readonly total: number
  /** Stops after the write in flight (if any) is done. */
  stop(): Promise<void>
}

const WORDS = 'firehose backfill appview cursor relay commit morning coffee river garden train lantern meadow pixel'.split(' ')

export function startTrickle(opts: TrickleOptions): Trickle {
  const rng = createRng(opts.seed ?? 4242)
  const posts: Ref[] = [...opts.posts].map(([uri, cid]) => ({ uri, cid })).slice(-200)
  const mine = new Map<string, Ref[]>() // did → posts this trickle created (for deletions)
  const counts: Record<string, number> = {}
  let total = 0
  let n = 0
  let stopped = false
  let wake: (() => void) | null = null

  const text = () => `${Array.from({ length: rng.int(3, 9) }, () => rng.pick(WORDS)).join(' ')} (live #${++n})`
  const now = () => new Date().toISOString()
  const remember = (ref: Ref) => {
    posts.push(ref)
    if (posts.length > 200) posts.shift()
  }

  async function writeOne(): Promise<string> {
    const acct = rng.pick(opts.accounts)
    const agent = acct.agent
    const repo = acct.did
    const r = rng.next()
    if (r < 0.35 || posts.length === 0) {
      const res = await agent.com.atproto.repo.createRecord({
        repo,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: text(), createdAt: now(), langs: ['en'] },
      })
      const ref = { uri: res.data.uri, cid: res.data.cid }
      remember(ref)
      mine.set(repo, [...(mine.get(repo) ?? []), ref])
      return 'post'
    }
    if (r < 0.5) {
      const parent = rng.pick(posts)
      const res = await agent.com.atproto.repo.createRecord({
        repo,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: text(), createdAt: now(), reply: { root: parent, parent } },
      })
      remember({ uri: res.data.uri, cid: res.data.cid })
      return 'reply'
    }
    if (r < 0.8) {
      await agent.com.atproto.repo.createRecord({
        repo,
        collection: 'app.bsky.feed.like',
        record: { $type: 'app.bsky.feed.like', subject: rng.pick(posts), createdAt: now() },
      })
      return 'like'
    }
    if (r < 0.9) {
      await agent.com.atproto.repo.createRecord({
        repo,
        collection: 'app.bsky.feed.repost',
        record: { $type: 'app.bsky.feed.repost', subject: rng.pick(posts), createdAt: now() },
      })
      return 'repost'
    }
    if (r < 0.96) {
      const other = rng.pick(opts.accounts.filter((a) => a.did !== repo))
      await agent.com.atproto.repo.createRecord({
        repo,
        collection: 'app.bsky.graph.follow',
        record: { $type: 'app.bsky.graph.follow', subject: other.did, createdAt: now() },
      })
      return 'follow'
    }
    const own = mine.get(repo) ?? []
    const victim = own.shift()
    if (!victim) return writeOne()
    await agent.com.atproto.repo.deleteRecord({ repo, collection: 'app.bsky.feed.post', rkey: victim.uri.split('/').pop()! })
    const i = posts.findIndex((p) => p.uri === victim.uri)
    if (i >= 0) posts.splice(i, 1)
    return 'delete'
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const kind = await writeOne()
        counts[kind] = (counts[kind] ?? 0) + 1
        total++
      } catch (err) {
        if (!stopped) opts.onError?.(err)
      }
      // Jittered pause (0.5×–1.5× the interval), cut short by stop().
      const pause = Math.round(opts.intervalMs * (0.5 + rng.next()))
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = null
    }
  })()

  return {
    get counts() {
      return counts
    },
    get total() {
      return total
    },
    async stop() {
      stopped = true
      wake?.()
      await loop
    },
  }
}
