// Decides, deterministically from the seed, what every frame of a workload says: who acts, what they write,
// and which earlier records they reference. Signing and MST work happen elsewhere (committer.ts), so the plan
// is cheap to compute and identical however many workers later turn it into commits.
import { TID } from '@atproto/common'
import { cidForLex } from '@atproto/lex-cbor'
import { syntheticAccount, type SyntheticAccount } from './accounts.js'
import { derive, Rng } from './prng.js'
import * as records from './records.js'
import type { RecordValue, StrongRef } from './records.js'

export type AccountStatus = 'deactivated' | 'takendown' | 'deleted'

export type WorkloadOptions = {
  seed: string | number
  accounts: number
  /** Total frames, seq 1..events, including identity/account/sync frames. */
  events: number
  startTime?: Date
  /** Sequencing time between consecutive frames: frame i (0-based) has time startTime + i*spacingMs. */
  spacingMs?: number
  /** How many accounts get a final #account frame with each inactive status, after all activity. */
  endStatuses?: Partial<Record<AccountStatus, number>>
}

export const DEFAULT_START_TIME = new Date('2025-01-01T00:00:00.000Z')
export const DEFAULT_SPACING_MS = 100
export const DEFAULT_END_STATUSES: Record<AccountStatus, number> = { deactivated: 1, takendown: 1, deleted: 1 }

export type PlannedWrite =
  | { action: 'create'; collection: string; rkey: string; record: RecordValue; cid: string }
  | { action: 'update'; collection: string; rkey: string; record: RecordValue; cid: string; prev: string }
  | { action: 'delete'; collection: string; rkey: string; prev: string }

export type PlannedEvent =
  /** Four frames from seq, as the PDS sequences an account creation: #identity, #account, the first (empty) #commit, #sync. */
  | { kind: 'create'; seq: number; times: [string, string, string, string]; account: SyntheticAccount; rev: string }
  | { kind: 'account'; seq: number; time: string; did: string; active: boolean; status: AccountStatus }
  | { kind: 'commit'; seq: number; time: string; account: SyntheticAccount; rev: string; writes: PlannedWrite[] }

type PostEntry = { id: number; ref: StrongRef; root: StrongRef | null; alive: boolean }

type Owned =
  | { kind: 'like' | 'repost'; collection: string; rkey: string; cid: string; post: PostEntry }
  | { kind: 'post'; collection: string; rkey: string; cid: string; post: PostEntry }
  | { kind: 'follow' | 'block'; collection: string; rkey: string; cid: string; subject: number }
  | { kind: 'listitem'; collection: string; rkey: string; cid: string }

/** What deleting a record later needs; the record value itself is not kept, to bound memory. */
function ownedRef(w: { collection: string; rkey: string; cid: string }) {
  return { collection: w.collection, rkey: w.rkey, cid: w.cid }
}

type Clock = { rkey: () => string; rev: () => string }

type Actor = {
  account: SyntheticAccount
  lastMicros: number
  profileCid: string | null
  follows: Set<number>
  blocks: Set<number>
  liked: Set<number>
  reposted: Set<number>
  lists: string[]
  /** Recent records this actor may delete; older ones simply become undeletable, bounding memory. */
  owned: Owned[]
  /** Posts this actor unliked and will like again, so a workload exercises unlike-then-like. */
  relike: PostEntry[]
}

type Action = 'like' | 'post' | 'repost' | 'follow' | 'delete' | 'block' | 'profile' | 'listitem' | 'list'
const ACTION_WEIGHTS: [Action, number][] = [
  ['like', 45], ['post', 25], ['repost', 10], ['follow', 10], ['delete', 5],
  ['block', 1.5], ['profile', 1.5], ['listitem', 1.5], ['list', 0.5],
]
const ACTION_TOTAL = ACTION_WEIGHTS.reduce((sum, [, w]) => sum + w, 0)
const OWNED_CAP = 64
const POST_POOL_CAP = 20_000
const FRAMES_PER_ACCOUNT_CREATION = 4

export function endStatusCounts(opts: WorkloadOptions): Record<AccountStatus, number> {
  return { ...DEFAULT_END_STATUSES, ...opts.endStatuses }
}

export async function* planWorkload(opts: WorkloadOptions): AsyncGenerator<PlannedEvent> {
  yield* new Planner(opts).run()
}

class Planner {
  private readonly seed: string
  private readonly rng: Rng
  private readonly clockId: number
  private readonly startMs: number
  private readonly spacingMs: number
  private readonly actors: Actor[] = []
  private posts: PostEntry[] = []
  private nextPostId = 0
  private seq = 0

  constructor(private readonly opts: WorkloadOptions) {
    this.seed = String(opts.seed)
    this.rng = new Rng(`${this.seed}\u0000plan`)
    this.clockId = derive(this.seed, 'clockid')[0] & 31
    this.startMs = (opts.startTime ?? DEFAULT_START_TIME).getTime()
    this.spacingMs = opts.spacingMs ?? DEFAULT_SPACING_MS
  }

  async *run(): AsyncGenerator<PlannedEvent> {
    const { events, accounts } = this.opts
    const statuses = endStatusCounts(this.opts)
    const endFrames = Object.values(statuses).reduce((a, b) => a + b, 0)
    // Only accounts that exist can end with a status frame; the rest of the stream is theirs to fill.
    const bodyEnd = (created: number) => events - Math.min(endFrames, created)
    // Accounts join over the first half of the stream, so later frames are mostly activity among many repos.
    const deadline = Math.max(FRAMES_PER_ACCOUNT_CREATION * accounts, Math.floor(bodyEnd(accounts) / 2))
    while (this.seq < bodyEnd(this.actors.length)) {
      const remaining = accounts - this.actors.length
      const fits = this.seq + FRAMES_PER_ACCOUNT_CREATION <= bodyEnd(this.actors.length + 1)
      const pCreate = (FRAMES_PER_ACCOUNT_CREATION * remaining) / Math.max(1, deadline - this.seq)
      if (remaining > 0 && fits && (this.actors.length === 0 || this.rng.chance(pCreate))) {
        yield this.createAccount()
      } else if (this.actors.length > 0) {
        yield await this.activity()
      } else {
        throw new Error(`${events} events are too few to create an account (${FRAMES_PER_ACCOUNT_CREATION} frames)`)
      }
    }
    yield* this.endStatuses(statuses)
  }

  private timeOf(seq: number): { iso: string; micros: number } {
    const ms = this.startMs + (seq - 1) * this.spacingMs
    return { iso: new Date(ms).toISOString(), micros: Math.floor(ms * 1000) }
  }

  /** Record keys and then a rev for one commit: TIDs from the frame's time, strictly after the actor's last rev. */
  private clock(actor: Actor, micros: number): Clock {
    let next = Math.max(micros, actor.lastMicros + 1)
    return {
      rkey: () => TID.fromTime(next++, this.clockId).toString(),
      rev: () => {
        actor.lastMicros = next
        return TID.fromTime(next, this.clockId).toString()
      },
    }
  }

  private createAccount(): PlannedEvent {
    const account = syntheticAccount(this.seed, this.actors.length)
    const actor: Actor = {
      account, lastMicros: 0, profileCid: null, follows: new Set(), blocks: new Set(), liked: new Set(),
      reposted: new Set(), lists: [], owned: [], relike: [],
    }
    this.actors.push(actor)
    const seq = this.seq + 1
    this.seq += FRAMES_PER_ACCOUNT_CREATION
    const times = [0, 1, 2, 3].map((i) => this.timeOf(seq + i).iso) as [string, string, string, string]
    return { kind: 'create', seq, times, account, rev: this.clock(actor, this.timeOf(seq + 2).micros).rev() }
  }

  private pickAction(): Action {
    let r = this.rng.next() * ACTION_TOTAL
    for (const [action, weight] of ACTION_WEIGHTS) {
      r -= weight
      if (r < 0) return action
    }
    return 'post'
  }

  private async activity(): Promise<PlannedEvent> {
    // Earlier accounts are more active, giving the long-tailed activity of a real network.
    const actor = this.actors[Math.floor(this.actors.length * Math.pow(this.rng.next(), 1.5))]
    const seq = ++this.seq
    const { iso, micros } = this.timeOf(seq)
    const clock = this.clock(actor, micros)
    const action = actor.profileCid === null ? 'profile' : this.pickAction()
    const writes = (await this.attempt(action, actor, iso, clock)) ?? (await this.attempt('post', actor, iso, clock))!
    return { kind: 'commit', seq, time: iso, account: actor.account, rev: clock.rev(), writes }
  }

  /**
   * The writes for `action`, already reflected in the actor's state, or null when the world does not allow the
   * action yet (nothing to like, nobody to follow).
   */
  private async attempt(action: Action, actor: Actor, createdAt: string, clock: Clock): Promise<PlannedWrite[] | null> {
    const create = async (collection: string, record: RecordValue): Promise<PlannedWrite & { action: 'create' }> => ({
      action: 'create', collection, rkey: clock.rkey(), record, cid: (await cidForLex(record)).toString(),
    })
    const uriOf = (w: PlannedWrite) => `at://${actor.account.did}/${w.collection}/${w.rkey}`
    switch (action) {
      case 'post': {
        const write = await create('app.bsky.feed.post', this.postRecord(actor, createdAt))
        const reply = write.record.reply as { root: StrongRef } | undefined
        const post: PostEntry = { id: this.nextPostId++, ref: { uri: uriOf(write), cid: write.cid }, root: reply?.root ?? null, alive: true }
        this.addPost(post)
        this.own(actor, { kind: 'post', ...ownedRef(write), post })
        return [write]
      }
      case 'like':
      case 'repost': {
        const done = action === 'like' ? actor.liked : actor.reposted
        const relike = action === 'like' ? actor.relike.shift() : undefined
        const post = relike?.alive && !done.has(relike.id) ? relike : this.samplePost((p) => !done.has(p.id))
        if (!post) return null
        const record = action === 'like' ? records.like(post.ref, createdAt) : records.repost(post.ref, createdAt)
        const write = await create(`app.bsky.feed.${action}`, record)
        done.add(post.id)
        this.own(actor, { kind: action, ...ownedRef(write), post })
        return [write]
      }
      case 'follow':
      case 'block': {
        const done = action === 'follow' ? actor.follows : actor.blocks
        const subject = this.sampleOther(actor, (i) => !done.has(i))
        if (subject === null) return null
        const did = this.actors[subject].account.did
        const write = await create(`app.bsky.graph.${action}`, records[action](did, createdAt))
        done.add(subject)
        this.own(actor, { kind: action, ...ownedRef(write), subject })
        return [write]
      }
      case 'profile': {
        const record = records.profile(this.rng, actor.account.handle, createdAt)
        const cid = (await cidForLex(record)).toString()
        const collection = 'app.bsky.actor.profile'
        const prev = actor.profileCid
        actor.profileCid = cid
        return prev === null
          ? [{ action: 'create', collection, rkey: 'self', record, cid }]
          : [{ action: 'update', collection, rkey: 'self', record, cid, prev }]
      }
      case 'list': {
        // A list created together with its first members in one commit, as clients do with applyWrites.
        const list = await create('app.bsky.graph.list', records.list(this.rng, createdAt))
        actor.lists.push(uriOf(list))
        if (actor.lists.length > 8) actor.lists.shift()
        const writes: PlannedWrite[] = [list]
        for (let n = 1 + this.rng.int(3); n > 0; n--) {
          const item = await this.listItem(actor, uriOf(list), createdAt, create)
          if (item) writes.push(item)
        }
        return writes
      }
      case 'listitem': {
        if (actor.lists.length === 0) return null
        const item = await this.listItem(actor, this.rng.pick(actor.lists), createdAt, create)
        return item ? [item] : null
      }
      case 'delete': {
        if (actor.owned.length === 0) return null
        const i = this.rng.int(actor.owned.length)
        const owned = actor.owned[i]
        actor.owned[i] = actor.owned[actor.owned.length - 1]
        actor.owned.pop()
        this.forget(actor, owned)
        return [{ action: 'delete', collection: owned.collection, rkey: owned.rkey, prev: owned.cid }]
      }
    }
  }

  private async listItem(
    actor: Actor,
    listUri: string,
    createdAt: string,
    create: (collection: string, record: RecordValue) => Promise<PlannedWrite & { action: 'create' }>,
  ): Promise<PlannedWrite | null> {
    const subject = this.sampleOther(actor, () => true)
    if (subject === null) return null
    const write = await create('app.bsky.graph.listitem', records.listItem(listUri, this.actors[subject].account.did, createdAt))
    this.own(actor, { kind: 'listitem', ...ownedRef(write) })
    return write
  }

  private postRecord(actor: Actor, createdAt: string): RecordValue {
    const shape: records.PostShape = { createdAt }
    if (this.rng.chance(0.3)) {
      const parent = this.samplePost(() => true)
      if (parent) shape.reply = { root: parent.root ?? parent.ref, parent: parent.ref }
    }
    if (this.rng.chance(0.1)) {
      const quoted = this.samplePost(() => true)
      if (quoted) shape.quote = quoted.ref
    } else if (this.rng.chance(0.1)) {
      shape.external = true
    }
    if (this.rng.chance(0.12)) {
      const other = this.sampleOther(actor, () => true)
      if (other !== null) shape.mention = { did: this.actors[other].account.did, handle: this.actors[other].account.handle }
    }
    shape.link = this.rng.chance(0.08)
    shape.tag = this.rng.chance(0.05)
    return records.post(this.rng, shape)
  }

  private samplePost(accept: (post: PostEntry) => boolean): PostEntry | null {
    for (let tries = 0; tries < 4 && this.posts.length > 0; tries++) {
      const post = this.posts[this.rng.recentIndex(this.posts.length)]
      if (post.alive && accept(post)) return post
    }
    return null
  }

  private sampleOther(actor: Actor, accept: (index: number) => boolean): number | null {
    for (let tries = 0; tries < 4 && this.actors.length > 1; tries++) {
      const i = this.rng.int(this.actors.length)
      if (i !== actor.account.index && accept(i)) return i
    }
    return null
  }

  private own(actor: Actor, owned: Owned): void {
    if (actor.owned.length >= OWNED_CAP) actor.owned.splice(this.rng.int(OWNED_CAP), 1)
    actor.owned.push(owned)
  }

  private forget(actor: Actor, owned: Owned): void {
    switch (owned.kind) {
      case 'like':
        actor.liked.delete(owned.post.id)
        if (this.rng.chance(0.5)) actor.relike.push(owned.post)
        break
      case 'repost':
        actor.reposted.delete(owned.post.id)
        break
      case 'post':
        owned.post.alive = false
        break
      case 'follow':
        actor.follows.delete(owned.subject)
        break
      case 'block':
        actor.blocks.delete(owned.subject)
    }
  }

  private addPost(post: PostEntry): void {
    this.posts.push(post)
    // Only recent posts get replies and likes in practice; trimming in halves keeps the pool bounded cheaply.
    if (this.posts.length > 2 * POST_POOL_CAP) this.posts = this.posts.slice(POST_POOL_CAP)
  }

  private *endStatuses(statuses: Record<AccountStatus, number>): Generator<PlannedEvent> {
    const candidates = this.actors.map((a) => a.account)
    for (const status of Object.keys(statuses) as AccountStatus[]) {
      for (let n = 0; n < statuses[status] && candidates.length > 0; n++) {
        const [account] = candidates.splice(this.rng.int(candidates.length), 1)
        const seq = ++this.seq
        yield { kind: 'account', seq, time: this.timeOf(seq).iso, did: account.did, active: false, status }
      }
    }
  }
}
