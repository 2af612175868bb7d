// Deterministic (seeded) app.bsky workload written to a real PDS through
// @atproto/api, for end-to-end tests.
//
//   const summary = await seedWorkload(pds.url, { accounts: 5, actionsPerAccount: 20, seed: 1 })
//
// Which actions happen, in what order, in which commits, and with what record
// content depends only on `seed` and the options. URIs and CIDs still differ
// between runs (DIDs are random, rkeys are TIDs chosen by the PDS), so tests
// compare against `summary.expected` / `summary.counts`, never literal URIs.
//
// Writes are grouped into commits the way real clients do: mostly multi-write
// com.atproto.repo.applyWrites commits (many times faster per record), plus
// single-record createRecord / putRecord / deleteRecord commits. A record is
// only updated or deleted in a later commit than the one that created it.
//
// PDS behaviour accounted for: createRecord (not applyWrites) of a like,
// repost, follow or block whose subject the repo already has a record for
// makes the PDS delete the older record in the same commit. The 'relike-dup'
// action does this on purpose; the expected state drops the older like.
import { AtpAgent } from '@atproto/api'

// ---------------------------------------------------------------- collections

export const COLLECTIONS = {
  post: 'app.bsky.feed.post',
  like: 'app.bsky.feed.like',
  repost: 'app.bsky.feed.repost',
  follow: 'app.bsky.graph.follow',
  block: 'app.bsky.graph.block',
  profile: 'app.bsky.actor.profile',
  list: 'app.bsky.graph.list',
  listitem: 'app.bsky.graph.listitem',
} as const

export type SeedCollection = (typeof COLLECTIONS)[keyof typeof COLLECTIONS]

// ------------------------------------------------------------------------ rng

/** Small seeded PRNG (mulberry32): same seed → same sequence. */
export type Rng = {
  /** float in [0, 1) */
  next(): number
  /** integer in [min, max] */
  int(min: number, max: number): number
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
}

export function createRng(seed: number): Rng {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('rng.pick on empty list')
      return items[Math.floor(next() * items.length)]
    },
  }
}

// ------------------------------------------------------------------ accounts

export type SeededAccount = {
  /** n in user{n}.test */
  index: number
  did: string
  handle: string
  email: string
  password: string
  /** logged-in agent (session from createAccount) */
  agent: AtpAgent
}

export const HANDLE_DOMAIN = '.test'

export function accountHandle(index: number, prefix = 'user', domain = HANDLE_DOMAIN): string {
  return `${prefix}${index}${domain}`
}

/** Create one account on the PDS (handle user{index}.test unless given). */
export async function seedAccount(
  pdsUrl: string,
  opts: { index: number; handle?: string; email?: string; password?: string },
): Promise<SeededAccount> {
  const handle = opts.handle ?? accountHandle(opts.index)
  const local = handle.split('.')[0]
  const email = opts.email ?? `${local}@example.com`
  const password = opts.password ?? `${local}-password`
  const agent = new AtpAgent({ service: pdsUrl })
  const res = await agent.createAccount({ handle, email, password })
  return { index: opts.index, did: res.data.did, handle: res.data.handle, email, password, agent }
}

// ------------------------------------------------------------------ workload

export type SeedOptions = {
  accounts: number
  /** record writes (create/update/delete) issued per account; commits group them */
  actionsPerAccount: number
  seed: number
  /** first n of user{n}.test; use distinct ranges to seed the same PDS twice (default 1) */
  firstIndex?: number
  /** handle prefix (default 'user') */
  handlePrefix?: string
  /** handle domain, the PDS's own (default '.test'; a second PDS has another, see startPds handleDomain) */
  handleDomain?: string
  /** max writes per applyWrites commit (default 10, PDS max 200) */
  maxBatch?: number
  /** share of commits that are multi-write applyWrites (default 0.55) */
  batchShare?: number
  /**
   * parallel createAccount calls (default 1: accounts are created in index
   * order, so the whole firehose sequence has the same shape on every run;
   * more is a little faster but orders the accounts' frames by chance)
   */
  accountConcurrency?: number
  /** createdAt of the first record; later ones step forward (default 2024-06-01T00:00:00Z) */
  startTime?: Date
}

export type ActionKind =
  | 'post'
  | 'post-facets'
  | 'post-external'
  | 'reply'
  | 'quote'
  | 'post-delete'
  | 'like'
  | 'unlike'
  | 'relike'
  | 'relike-dup'
  | 'repost'
  | 'unrepost'
  | 'rerepost'
  | 'follow'
  | 'unfollow'
  | 'refollow'
  | 'block'
  | 'unblock'
  | 'profile-create'
  | 'profile-update'
  | 'list-create'
  | 'listitem-create'
  | 'listitem-delete'

export type SeedSummary = {
  accounts: SeededAccount[]
  dids: string[]
  handles: Record<string, string>
  /** live records per collection at the end (every SeedCollection present, maybe 0) */
  counts: Record<string, number>
  /** live records at the end: collection → uri → cid */
  expected: Map<string, Map<string, string>>
  /** every record ever created (uri → collection), including later-deleted ones */
  everCreated: Map<string, string>
  /** how many times each action ran */
  actions: Partial<Record<ActionKind, number>>
  ops: {
    creates: number
    updates: number
    deletes: number
    /** older like/repost/follow/block records the PDS deleted itself */
    autoDeletes: number
    commits: number
    batchCommits: number
    singleCommits: number
  }
  timing: { accountsMs: number; writesMs: number; writesPerSec: number; commitsPerSec: number }
}

type StrongRef = { uri: string; cid: string }
type PostInfo = StrongRef & { root: StrongRef }

type Actor = {
  acct: SeededAccount
  budget: number
  posts: Map<string, PostInfo>
  likes: Map<string, string> // subject uri → like uri
  unliked: StrongRef[]
  reposts: Map<string, string> // subject uri → repost uri
  unreposted: StrongRef[]
  follows: Map<string, string> // subject did → follow uri
  unfollowed: string[]
  blocks: Map<string, string> // subject did → block uri
  profile: { displayName: string; description: string } | null
  lists: Map<string, { name: string; members: Set<string> }>
  listitems: Map<string, { list: string; subject: string }>
}

type Write =
  | { type: 'create'; collection: SeedCollection; rkey?: string; value: Record<string, unknown> }
  | { type: 'update'; collection: SeedCollection; rkey: string; value: Record<string, unknown> }
  | { type: 'delete'; collection: SeedCollection; rkey: string; uri: string }

type Planned = {
  kind: ActionKind
  write: Write
  /** keys this write touches; no two writes in one commit share one */
  keys: string[]
  /** only as a single createRecord commit (PDS conflict-deletion semantics) */
  singleOnly?: boolean
  /** apply to the model once committed; res = the created/updated record */
  apply(res: StrongRef | null): void
}

const WORDS = (
  'atproto firehose backfill relay appview cursor commit record repo blob ' +
  'label feed thread reply quote like repost follow block list handle ' +
  'sunrise coffee garden river mountain bicycle library window music ' +
  'weekend rain kitten bread train ocean harbor lantern meadow pixel'
).split(' ')
const EXTRA = ['', ' 🦋', ' ☕️', ' — ok', ' 日本語のテキスト', ' café', ' 👩‍💻']
const LANGS: (string[] | undefined)[] = [['en'], ['en'], ['ja'], ['en', 'de'], ['pt-BR'], undefined]
const DISPLAY = ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy']

const rkeyOf = (uri: string) => uri.slice(uri.lastIndexOf('/') + 1)
const utf8Len = (s: string) => Buffer.byteLength(s, 'utf8')

/** Build the deterministic write plan and execute it against the PDS. */
export async function seedWorkload(pdsUrl: string, opts: SeedOptions): Promise<SeedSummary> {
  const rng = createRng(opts.seed)
  const firstIndex = opts.firstIndex ?? 1
  const prefix = opts.handlePrefix ?? 'user'
  const domain = opts.handleDomain ?? HANDLE_DOMAIN
  const maxBatch = Math.max(2, Math.min(opts.maxBatch ?? 10, 200))
  const batchShare = opts.batchShare ?? 0.55
  const concurrency = Math.max(1, opts.accountConcurrency ?? 1)
  let clock = (opts.startTime ?? new Date('2024-06-01T00:00:00Z')).getTime()
  const createdAt = () => {
    clock += rng.int(5, 600) * 1000
    return new Date(clock).toISOString()
  }

  // -- accounts
  const tAcc = performance.now()
  const accounts: SeededAccount[] = new Array(opts.accounts)
  let nextAcct = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, opts.accounts) }, async () => {
      while (nextAcct < opts.accounts) {
        const i = nextAcct++
        const index = firstIndex + i
        accounts[i] = await seedAccount(pdsUrl, { index, handle: accountHandle(index, prefix, domain) })
      }
    }),
  )
  const accountsMs = performance.now() - tAcc

  // -- model
  const actors: Actor[] = accounts.map((acct) => ({
    acct,
    budget: opts.actionsPerAccount,
    posts: new Map(),
    likes: new Map(),
    unliked: [],
    reposts: new Map(),
    unreposted: [],
    follows: new Map(),
    unfollowed: [],
    blocks: new Map(),
    profile: null,
    lists: new Map(),
    listitems: new Map(),
  }))
  const expected = new Map<string, Map<string, string>>()
  for (const c of Object.values(COLLECTIONS)) expected.set(c, new Map())
  const everCreated = new Map<string, string>()
  const actions: Partial<Record<ActionKind, number>> = {}
  const ops = { creates: 0, updates: 0, deletes: 0, autoDeletes: 0, commits: 0, batchCommits: 0, singleCommits: 0 }

  const put = (collection: string, ref: StrongRef) => {
    expected.get(collection)!.set(ref.uri, ref.cid)
    everCreated.set(ref.uri, collection)
  }
  const del = (collection: string, uri: string) => {
    expected.get(collection)!.delete(uri)
  }
  // all live posts, in creation order (deterministic: no sorting by uri/cid)
  const livePosts: PostInfo[] = []
  const removeLivePost = (uri: string) => {
    const i = livePosts.findIndex((p) => p.uri === uri)
    if (i >= 0) livePosts.splice(i, 1)
  }
  const others = (a: Actor) => actors.filter((b) => b !== a)

  const words = (min: number, max: number) =>
    Array.from({ length: rng.int(min, max) }, () => rng.pick(WORDS)).join(' ')
  const withLangs = (value: Record<string, unknown>) => {
    const langs = rng.pick(LANGS)
    if (langs) value.langs = langs
    return value
  }
  const postValue = (text: string, extra: Record<string, unknown> = {}) =>
    withLangs({ $type: COLLECTIONS.post, text, createdAt: createdAt(), ...extra })

  const createPost = (a: Actor, kind: ActionKind, value: Record<string, unknown>, root?: StrongRef): Planned => ({
    kind,
    write: { type: 'create', collection: COLLECTIONS.post, value },
    keys: [],
    apply: (res) => {
      const info: PostInfo = { uri: res!.uri, cid: res!.cid, root: root ?? { uri: res!.uri, cid: res!.cid } }
      a.posts.set(info.uri, info)
      livePosts.push(info)
      put(COLLECTIONS.post, res!)
    },
  })

  // Each planner returns null when its preconditions don't hold.
  const planners: Record<ActionKind, [weight: number, plan: (a: Actor) => Planned | null]> = {
    post: [14, (a) => createPost(a, 'post', postValue(`${words(3, 12)}${rng.pick(EXTRA)}`))],
    'post-facets': [
      6,
      (a) => {
        const mentioned = rng.pick(others(a).length ? others(a) : [a]).acct
        const link = `https://example.com/${rng.pick(WORDS)}/${rng.int(1, 9999)}`
        const tag = rng.pick(WORDS)
        const head = `${rng.pick(EXTRA).trim()} hey `.trimStart()
        const mention = `@${mentioned.handle}`
        const mid = ` ${words(1, 4)} → `
        const tail = ` #${tag}`
        const text = head + mention + mid + link + tail
        const mStart = utf8Len(head)
        const lStart = mStart + utf8Len(mention) + utf8Len(mid)
        const tStart = lStart + utf8Len(link) + 1
        const facets = [
          {
            index: { byteStart: mStart, byteEnd: mStart + utf8Len(mention) },
            features: [{ $type: 'app.bsky.richtext.facet#mention', did: mentioned.did }],
          },
          {
            index: { byteStart: lStart, byteEnd: lStart + utf8Len(link) },
            features: [{ $type: 'app.bsky.richtext.facet#link', uri: link }],
          },
          {
            index: { byteStart: tStart, byteEnd: tStart + utf8Len(tail) - 1 },
            features: [{ $type: 'app.bsky.richtext.facet#tag', tag }],
          },
        ]
        return createPost(a, 'post-facets', postValue(text, { facets }))
      },
    ],
    'post-external': [
      3,
      (a) => {
        const link = `https://example.org/articles/${rng.int(1, 99999)}`
        return createPost(
          a,
          'post-external',
          postValue(words(2, 8), {
            embed: {
              $type: 'app.bsky.embed.external',
              external: { uri: link, title: words(2, 5), description: words(4, 12) },
            },
          }),
        )
      },
    ],
    reply: [
      10,
      (a) => {
        if (!livePosts.length) return null
        const parent = rng.pick(livePosts)
        const ref = { uri: parent.uri, cid: parent.cid }
        return createPost(
          a,
          'reply',
          postValue(words(2, 10), { reply: { root: parent.root, parent: ref } }),
          parent.root,
        )
      },
    ],
    quote: [
      4,
      (a) => {
        if (!livePosts.length) return null
        const q = rng.pick(livePosts)
        return createPost(
          a,
          'quote',
          postValue(`${words(2, 8)}${rng.pick(EXTRA)}`, {
            embed: { $type: 'app.bsky.embed.record', record: { uri: q.uri, cid: q.cid } },
          }),
        )
      },
    ],
    'post-delete': [
      3,
      (a) => {
        if (!a.posts.size) return null
        const p = rng.pick([...a.posts.values()])
        return {
          kind: 'post-delete',
          write: { type: 'delete', collection: COLLECTIONS.post, rkey: rkeyOf(p.uri), uri: p.uri },
          keys: [`rec:${p.uri}`],
          apply: () => {
            a.posts.delete(p.uri)
            removeLivePost(p.uri)
            del(COLLECTIONS.post, p.uri)
          },
        }
      },
    ],
    like: [
      16,
      (a) => {
        const cands = livePosts.filter((p) => !a.likes.has(p.uri))
        if (!cands.length) return null
        const p = rng.pick(cands)
        return likeOf(a, 'like', { uri: p.uri, cid: p.cid })
      },
    ],
    unlike: [
      4,
      (a) => {
        if (!a.likes.size) return null
        const [subject, likeUri] = rng.pick([...a.likes.entries()])
        return {
          kind: 'unlike',
          write: { type: 'delete', collection: COLLECTIONS.like, rkey: rkeyOf(likeUri), uri: likeUri },
          keys: [`like:${subject}`],
          apply: () => {
            a.likes.delete(subject)
            const subjCid = subjectCids.get(likeUri)
            if (subjCid) a.unliked.push({ uri: subject, cid: subjCid })
            del(COLLECTIONS.like, likeUri)
          },
        }
      },
    ],
    relike: [
      6,
      (a) => {
        const cands = a.unliked.filter((s) => !a.likes.has(s.uri))
        if (!cands.length) return null
        return likeOf(a, 'relike', rng.pick(cands))
      },
    ],
    'relike-dup': [
      2,
      (a) => {
        // like a subject that is already liked, via createRecord: the PDS
        // deletes the older like in the same commit
        if (!a.likes.size) return null
        const [subject, oldUri] = rng.pick([...a.likes.entries()])
        const subjCid = subjectCids.get(oldUri)
        if (!subjCid) return null
        return {
          kind: 'relike-dup',
          write: {
            type: 'create',
            collection: COLLECTIONS.like,
            value: { $type: COLLECTIONS.like, subject: { uri: subject, cid: subjCid }, createdAt: createdAt() },
          },
          keys: [`like:${subject}`],
          singleOnly: true,
          apply: (res) => {
            del(COLLECTIONS.like, oldUri)
            ops.autoDeletes++
            a.likes.set(subject, res!.uri)
            subjectCids.set(res!.uri, subjCid)
            put(COLLECTIONS.like, res!)
          },
        }
      },
    ],
    repost: [
      6,
      (a) => {
        const cands = livePosts.filter((p) => !a.reposts.has(p.uri))
        if (!cands.length) return null
        return repostOf(a, 'repost', rng.pick(cands))
      },
    ],
    unrepost: [
      3,
      (a) => {
        if (!a.reposts.size) return null
        const [subject, uri] = rng.pick([...a.reposts.entries()])
        return {
          kind: 'unrepost',
          write: { type: 'delete', collection: COLLECTIONS.repost, rkey: rkeyOf(uri), uri },
          keys: [`repost:${subject}`],
          apply: () => {
            a.reposts.delete(subject)
            const subjCid = subjectCids.get(uri)
            if (subjCid) a.unreposted.push({ uri: subject, cid: subjCid })
            del(COLLECTIONS.repost, uri)
          },
        }
      },
    ],
    rerepost: [
      3,
      (a) => {
        const cands = a.unreposted.filter((s) => !a.reposts.has(s.uri))
        if (!cands.length) return null
        return repostOf(a, 'rerepost', rng.pick(cands))
      },
    ],
    follow: [
      10,
      (a) => {
        const cands = others(a).filter((b) => !a.follows.has(b.acct.did))
        if (!cands.length) return null
        return followOf(a, 'follow', rng.pick(cands).acct.did)
      },
    ],
    unfollow: [
      3,
      (a) => {
        if (!a.follows.size) return null
        const [subject, uri] = rng.pick([...a.follows.entries()])
        return {
          kind: 'unfollow',
          write: { type: 'delete', collection: COLLECTIONS.follow, rkey: rkeyOf(uri), uri },
          keys: [`follow:${subject}`],
          apply: () => {
            a.follows.delete(subject)
            a.unfollowed.push(subject)
            del(COLLECTIONS.follow, uri)
          },
        }
      },
    ],
    refollow: [
      4,
      (a) => {
        const cands = a.unfollowed.filter((d) => !a.follows.has(d))
        if (!cands.length) return null
        return followOf(a, 'refollow', rng.pick(cands))
      },
    ],
    block: [
      2,
      (a) => {
        const cands = others(a).filter((b) => !a.blocks.has(b.acct.did))
        if (!cands.length) return null
        const subject = rng.pick(cands).acct.did
        return {
          kind: 'block',
          write: { type: 'create', collection: COLLECTIONS.block, value: { $type: COLLECTIONS.block, subject, createdAt: createdAt() } },
          keys: [`block:${subject}`],
          apply: (res) => {
            a.blocks.set(subject, res!.uri)
            put(COLLECTIONS.block, res!)
          },
        }
      },
    ],
    unblock: [
      1,
      (a) => {
        if (!a.blocks.size) return null
        const [subject, uri] = rng.pick([...a.blocks.entries()])
        return {
          kind: 'unblock',
          write: { type: 'delete', collection: COLLECTIONS.block, rkey: rkeyOf(uri), uri },
          keys: [`block:${subject}`],
          apply: () => {
            a.blocks.delete(subject)
            del(COLLECTIONS.block, uri)
          },
        }
      },
    ],
    'profile-create': [
      30,
      (a) => {
        if (a.profile) return null
        const p = { displayName: `${rng.pick(DISPLAY)} ${a.acct.index}`, description: words(3, 10) }
        return {
          kind: 'profile-create',
          write: {
            type: 'create',
            collection: COLLECTIONS.profile,
            rkey: 'self',
            value: { $type: COLLECTIONS.profile, ...p, createdAt: createdAt() },
          },
          keys: ['profile'],
          apply: (res) => {
            a.profile = p
            put(COLLECTIONS.profile, res!)
          },
        }
      },
    ],
    'profile-update': [
      5,
      (a) => {
        if (!a.profile) return null
        const p = { ...a.profile }
        const which = rng.int(0, 2)
        if (which !== 1) p.displayName = `${rng.pick(DISPLAY)} ${rng.pick(WORDS)}`
        if (which !== 0) p.description = `${words(3, 12)}${rng.pick(EXTRA)}`
        return {
          kind: 'profile-update',
          write: {
            type: 'update',
            collection: COLLECTIONS.profile,
            rkey: 'self',
            value: { $type: COLLECTIONS.profile, ...p },
          },
          keys: ['profile'],
          apply: (res) => {
            a.profile = p
            put(COLLECTIONS.profile, res!)
          },
        }
      },
    ],
    'list-create': [
      2,
      (a) => {
        if (a.lists.size >= 3) return null
        const purpose = rng.chance(0.6) ? 'app.bsky.graph.defs#curatelist' : 'app.bsky.graph.defs#modlist'
        const name = `${purpose.endsWith('modlist') ? 'Mute' : 'Friends'} ${rng.pick(WORDS)}`
        const value: Record<string, unknown> = { $type: COLLECTIONS.list, purpose, name, createdAt: createdAt() }
        if (rng.chance(0.5)) value.description = words(3, 9)
        return {
          kind: 'list-create',
          write: { type: 'create', collection: COLLECTIONS.list, value },
          keys: [],
          apply: (res) => {
            a.lists.set(res!.uri, { name, members: new Set() })
            put(COLLECTIONS.list, res!)
          },
        }
      },
    ],
    'listitem-create': [
      5,
      (a) => {
        const lists = [...a.lists.entries()].filter(([, l]) => l.members.size < actors.length)
        if (!lists.length) return null
        const [list, l] = rng.pick(lists)
        const cands = actors.filter((b) => !l.members.has(b.acct.did))
        if (!cands.length) return null
        const subject = rng.pick(cands).acct.did
        return {
          kind: 'listitem-create',
          write: {
            type: 'create',
            collection: COLLECTIONS.listitem,
            value: { $type: COLLECTIONS.listitem, subject, list, createdAt: createdAt() },
          },
          keys: [`listitem:${list}:${subject}`],
          apply: (res) => {
            l.members.add(subject)
            a.listitems.set(res!.uri, { list, subject })
            put(COLLECTIONS.listitem, res!)
          },
        }
      },
    ],
    'listitem-delete': [
      1,
      (a) => {
        if (!a.listitems.size) return null
        const [uri, li] = rng.pick([...a.listitems.entries()])
        return {
          kind: 'listitem-delete',
          write: { type: 'delete', collection: COLLECTIONS.listitem, rkey: rkeyOf(uri), uri },
          keys: [`listitem:${li.list}:${li.subject}`],
          apply: () => {
            a.listitems.delete(uri)
            a.lists.get(li.list)?.members.delete(li.subject)
            del(COLLECTIONS.listitem, uri)
          },
        }
      },
    ],
  }

  // like/repost uri → subject cid, to re-like / re-repost the same subject
  const subjectCids = new Map<string, string>()
  function likeOf(a: Actor, kind: ActionKind, subject: StrongRef): Planned {
    return {
      kind,
      write: {
        type: 'create',
        collection: COLLECTIONS.like,
        value: { $type: COLLECTIONS.like, subject, createdAt: createdAt() },
      },
      keys: [`like:${subject.uri}`],
      apply: (res) => {
        a.likes.set(subject.uri, res!.uri)
        subjectCids.set(res!.uri, subject.cid)
        put(COLLECTIONS.like, res!)
      },
    }
  }
  function repostOf(a: Actor, kind: ActionKind, subject: StrongRef): Planned {
    const ref = { uri: subject.uri, cid: subject.cid }
    return {
      kind,
      write: {
        type: 'create',
        collection: COLLECTIONS.repost,
        value: { $type: COLLECTIONS.repost, subject: ref, createdAt: createdAt() },
      },
      keys: [`repost:${subject.uri}`],
      apply: (res) => {
        a.reposts.set(subject.uri, res!.uri)
        subjectCids.set(res!.uri, subject.cid)
        put(COLLECTIONS.repost, res!)
      },
    }
  }
  function followOf(a: Actor, kind: ActionKind, subject: string): Planned {
    return {
      kind,
      write: { type: 'create', collection: COLLECTIONS.follow, value: { $type: COLLECTIONS.follow, subject, createdAt: createdAt() } },
      keys: [`follow:${subject}`],
      apply: (res) => {
        a.follows.set(subject, res!.uri)
        put(COLLECTIONS.follow, res!)
      },
    }
  }
  const kinds = Object.keys(planners) as ActionKind[]
  const pendingKinds = new Set<ActionKind>() // planned into the commit being built

  const usable = (p: Planned | null, busy: Set<string>, single: boolean): p is Planned =>
    !!p && !(p.singleOnly && !single) && !p.keys.some((k) => busy.has(k))

  /**
   * Mostly a weighted pick among kinds whose preconditions hold; but while some
   * kinds have never run, usually run one of those whose preconditions hold
   * (unfollow → refollow etc.), so that even small workloads cover every kind.
   */
  const planOne = (a: Actor, busy: Set<string>, single: boolean): Planned | null => {
    const unseen = kinds.filter((k) => !actions[k] && !pendingKinds.has(k))
    if (unseen.length && rng.chance(0.6)) {
      const start = rng.int(0, unseen.length - 1)
      for (let i = 0; i < unseen.length; i++) {
        const k = unseen[(start + i) % unseen.length]
        const p = planners[k][1](a)
        if (usable(p, busy, single)) return p
      }
    }
    for (let attempt = 0; attempt < 12; attempt++) {
      let total = 0
      const weights = kinds.map((k) => {
        const w = planners[k][0]
        total += w
        return w
      })
      let r = rng.next() * total
      let kind = kinds[kinds.length - 1]
      for (let i = 0; i < kinds.length; i++) {
        r -= weights[i]
        if (r < 0) {
          kind = kinds[i]
          break
        }
      }
      const planned = planners[kind][1](a)
      if (usable(planned, busy, single)) return planned
    }
    return null
  }

  // -- execute
  const repoOf = (a: Actor) => a.acct.did
  const commitSingle = async (a: Actor, p: Planned) => {
    const agent = a.acct.agent
    const w = p.write
    let res: StrongRef | null = null
    if (w.type === 'create') {
      const r = await agent.com.atproto.repo.createRecord({
        repo: repoOf(a),
        collection: w.collection,
        rkey: w.rkey,
        record: w.value,
      })
      res = { uri: r.data.uri, cid: r.data.cid }
      ops.creates++
    } else if (w.type === 'update') {
      const r = await agent.com.atproto.repo.putRecord({
        repo: repoOf(a),
        collection: w.collection,
        rkey: w.rkey,
        record: w.value,
      })
      res = { uri: r.data.uri, cid: r.data.cid }
      ops.updates++
    } else {
      await agent.com.atproto.repo.deleteRecord({ repo: repoOf(a), collection: w.collection, rkey: w.rkey })
      ops.deletes++
    }
    p.apply(res)
    ops.commits++
    ops.singleCommits++
  }
  const commitBatch = async (a: Actor, ps: Planned[]) => {
    const writes = ps.map((p) => {
      const w = p.write
      if (w.type === 'create') {
        return {
          $type: 'com.atproto.repo.applyWrites#create' as const,
          collection: w.collection,
          ...(w.rkey ? { rkey: w.rkey } : {}),
          value: w.value,
        }
      }
      if (w.type === 'update') {
        return { $type: 'com.atproto.repo.applyWrites#update' as const, collection: w.collection, rkey: w.rkey, value: w.value }
      }
      return { $type: 'com.atproto.repo.applyWrites#delete' as const, collection: w.collection, rkey: w.rkey }
    })
    const r = await a.acct.agent.com.atproto.repo.applyWrites({ repo: repoOf(a), writes })
    const results = r.data.results ?? []
    if (results.length !== ps.length) {
      throw new Error(`applyWrites returned ${results.length} results for ${ps.length} writes`)
    }
    ps.forEach((p, i) => {
      const res = results[i] as { uri?: string; cid?: string }
      if (p.write.type === 'create') ops.creates++
      else if (p.write.type === 'update') ops.updates++
      else ops.deletes++
      p.apply(res.uri && res.cid ? { uri: res.uri, cid: res.cid } : null)
    })
    ops.commits++
    ops.batchCommits++
  }

  const tWrites = performance.now()
  let active = actors.filter((a) => a.budget > 0)
  let stalls = 0
  while (active.length) {
    const a = rng.pick(active)
    const single = a.budget === 1 || !rng.chance(batchShare)
    const size = single ? 1 : rng.int(2, Math.min(maxBatch, a.budget))
    const busy = new Set<string>()
    const planned: Planned[] = []
    pendingKinds.clear()
    for (let i = 0; i < size; i++) {
      const p = planOne(a, busy, single)
      if (!p) break
      p.keys.forEach((k) => busy.add(k))
      pendingKinds.add(p.kind)
      planned.push(p)
    }
    if (!planned.length) {
      // nothing applicable right now (shouldn't happen: 'post' always is)
      if (++stalls > 1000) throw new Error('seedWorkload: planner stalled')
      continue
    }
    for (const p of planned) actions[p.kind] = (actions[p.kind] ?? 0) + 1
    if (planned.length === 1) await commitSingle(a, planned[0])
    else await commitBatch(a, planned)
    a.budget -= planned.length
    active = actors.filter((x) => x.budget > 0)
  }
  const writesMs = performance.now() - tWrites

  const counts: Record<string, number> = {}
  for (const [c, m] of expected) counts[c] = m.size
  const writes = ops.creates + ops.updates + ops.deletes
  return {
    accounts,
    dids: accounts.map((a) => a.did),
    handles: Object.fromEntries(accounts.map((a) => [a.did, a.handle])),
    counts,
    expected,
    everCreated,
    actions,
    ops,
    timing: {
      accountsMs: Math.round(accountsMs),
      writesMs: Math.round(writesMs),
      writesPerSec: writesMs > 0 ? Math.round((writes / writesMs) * 1000) : 0,
      commitsPerSec: writesMs > 0 ? Math.round((ops.commits / writesMs) * 1000) : 0,
    },
  }
}
