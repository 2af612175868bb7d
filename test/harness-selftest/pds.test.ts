// Self-test of the real-peer harness: reference PDS child process, seeded
// workload, the PDS's own record dump, and firehose replay from cursor 0.
import { existsSync } from 'node:fs'
import net from 'node:net'
import { type Event, Firehose } from '@atproto/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PdsHandle, harnessIdResolver, startPds } from '../harness/pds.js'
import { type PdsDump, dumpPdsRepos } from '../harness/pds-repos.js'
import { type ActionKind, COLLECTIONS, type SeedSummary, seedWorkload } from '../harness/seed.js'

const ALL_KINDS: ActionKind[] = [
  'post', 'post-facets', 'post-external', 'reply', 'quote', 'post-delete',
  'like', 'unlike', 'relike', 'relike-dup', 'repost', 'unrepost', 'rerepost',
  'follow', 'unfollow', 'refollow', 'block', 'unblock',
  'profile-create', 'profile-update', 'list-create', 'listitem-create', 'listitem-delete',
]

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
  })

describe('harness: reference PDS + seed + dump + firehose', () => {
  let pds: PdsHandle
  let seed: SeedSummary
  let dump: PdsDump

  beforeAll(async () => {
    pds = await startPds()
    seed = await seedWorkload(pds.url, { accounts: 5, actionsPerAccount: 20, seed: 1 })
    dump = await dumpPdsRepos(pds.url)
    console.log(
      `[harness] pds start ${pds.startupMs} ms; seed: accounts ${seed.timing.accountsMs} ms, ` +
        `${seed.ops.creates + seed.ops.updates + seed.ops.deletes} writes in ${seed.ops.commits} commits ` +
        `(${seed.ops.batchCommits} applyWrites) in ${seed.timing.writesMs} ms = ${seed.timing.writesPerSec} writes/s; ` +
        `dump ${dump.total} records`,
    )
  })

  afterAll(async () => {
    await pds?.stop()
  })

  it('serves on 127.0.0.1 with .test handles', async () => {
    expect(pds.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(pds.plcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(`${pds.url}/xrpc/com.atproto.server.describeServer`)
    const body = (await res.json()) as { availableUserDomains: string[] }
    expect(body.availableUserDomains).toContain('.test')
    expect(seed.accounts.map((a) => a.handle)).toEqual(['user1.test', 'user2.test', 'user3.test', 'user4.test', 'user5.test'])
    // the DID document points at the PDS's public URL (localhost, same port)
    const doc = (await (await fetch(`${pds.plcUrl}/${seed.dids[0]}`)).json()) as {
      alsoKnownAs: string[]
      service: { id: string; serviceEndpoint: string }[]
    }
    expect(doc.alsoKnownAs).toEqual([`at://${seed.accounts[0].handle}`])
    expect(doc.service.find((s) => s.id === '#atproto_pds')?.serviceEndpoint).toBe(pds.publicUrl)
  })

  it('the seed covers every action kind, and the dump matches it record for record', () => {
    for (const k of ALL_KINDS) expect(seed.actions[k] ?? 0, k).toBeGreaterThan(0)
    expect(seed.ops.batchCommits).toBeGreaterThan(0)
    expect(seed.ops.singleCommits).toBeGreaterThan(0)
    expect(seed.ops.autoDeletes).toBeGreaterThan(0)

    expect(new Set(dump.repos.map((r) => r.did))).toEqual(new Set(seed.dids))
    for (const a of seed.accounts) expect(dump.handles.get(a.did)).toBe(a.handle)

    for (const c of Object.values(COLLECTIONS)) {
      expect(dump.counts[c] ?? 0, c).toBe(seed.counts[c])
      const got = new Map([...(dump.records.get(c) ?? new Map())].map(([uri, r]) => [uri, r.cid]))
      expect(got, c).toEqual(seed.expected.get(c))
    }
    expect(Object.keys(dump.counts).sort()).toEqual(
      Object.entries(seed.counts).filter(([, n]) => n > 0).map(([c]) => c).sort(),
    )
    // spot-check content
    const posts = [...dump.records.get(COLLECTIONS.post)!.values()].map((r) => r.value as Record<string, unknown>)
    expect(posts.some((p) => Array.isArray(p.facets))).toBe(true)
    expect(posts.some((p) => p.reply)).toBe(true)
    expect(posts.some((p) => (p.embed as { $type?: string })?.$type === 'app.bsky.embed.record')).toBe(true)
  })

  it('the firehose from cursor 0 replays every record', async () => {
    const events: Event[] = []
    const errors: unknown[] = []
    const frames = new Map<number, string>() // seq → frame type
    const lastRev = new Map<string, string>()
    const firehose = new Firehose({
      service: pds.wsUrl,
      idResolver: harnessIdResolver(pds),
      unauthenticatedCommits: true,
      getCursor: () => 0,
      handleEvent: (evt) => {
        events.push(evt)
        frames.set(evt.seq, evt.event === 'create' || evt.event === 'update' || evt.event === 'delete' ? 'commit' : evt.event)
        if ('rev' in evt) lastRev.set(evt.did, evt.rev)
      },
      onError: (err) => errors.push(err),
    })
    const t0 = performance.now()
    void firehose.start()
    try {
      const caughtUp = () => dump.repos.every((r) => lastRev.get(r.did) === r.rev)
      while (!caughtUp() && performance.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50))
      expect(caughtUp()).toBe(true)
    } finally {
      await firehose.destroy()
    }
    const replayMs = Math.round(performance.now() - t0)
    expect(errors).toEqual([])

    // replaying every op in order reproduces the PDS's repos exactly
    const state = new Map<string, { cid: string; record: unknown }>()
    const created = new Set<string>()
    for (const e of events) {
      if (e.event === 'create' || e.event === 'update') {
        if (e.event === 'create') created.add(e.uri.toString())
        state.set(e.uri.toString(), { cid: e.cid.toString(), record: e.record })
      } else if (e.event === 'delete') {
        state.delete(e.uri.toString())
      }
    }
    let inDump = 0
    for (const [collection, recs] of dump.records) {
      for (const [uri, r] of recs) {
        inDump++
        expect(created.has(uri), `create for ${uri}`).toBe(true)
        const s = state.get(uri)
        expect(s?.cid, uri).toBe(r.cid)
        expect(JSON.parse(JSON.stringify(s?.record)), uri).toEqual(r.value)
        expect((s?.record as { $type?: string }).$type).toBe(collection)
      }
    }
    expect(state.size).toBe(inDump)

    // frames per new account: #identity (with handle), #account active, an empty #commit, #sync
    for (const a of seed.accounts) {
      const id = events.find((e) => e.event === 'identity' && e.did === a.did)
      expect(id && id.event === 'identity' && id.handle).toBe(a.handle)
      const acct = events.find((e) => e.event === 'account' && e.did === a.did)
      expect(acct && acct.event === 'account' && acct.active).toBe(true)
      expect(events.some((e) => e.event === 'sync' && e.did === a.did)).toBe(true)
    }
    // the PDS's own conflict deletion (createRecord of an already-liked subject)
    // arrives as a delete + create of app.bsky.feed.like in one commit
    const bySeq = new Map<number, Event[]>()
    for (const e of events) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), e])
    const dupCommits = [...bySeq.values()].filter(
      (es) =>
        es.length === 2 &&
        es.some((e) => e.event === 'delete' && e.collection === COLLECTIONS.like) &&
        es.some((e) => e.event === 'create' && e.collection === COLLECTIONS.like),
    )
    expect(dupCommits.length).toBeGreaterThanOrEqual(seed.ops.autoDeletes)

    const count = (t: string) => [...frames.values()].filter((v) => v === t).length
    console.log(
      `[harness] firehose replay: ${frames.size} frames with events (${count('commit')} commits, ` +
        `${count('identity')} identity, ${count('account')} account, ${count('sync')} sync), ` +
        `${events.length} events, max seq ${Math.max(...frames.keys())}, ${replayMs} ms`,
    )
  })

  it('the same seed gives the same workload on another PDS; kill() ends a child at once', async () => {
    const other = await startPds()
    const again = await seedWorkload(other.url, { accounts: 5, actionsPerAccount: 20, seed: 1 })
    expect(again.actions).toEqual(seed.actions)
    expect(again.ops).toEqual(seed.ops)
    expect(again.counts).toEqual(seed.counts)
    const texts = async (d: PdsDump) =>
      [...(d.records.get(COLLECTIONS.post)?.values() ?? [])].map((r) => (r.value as { text: string }).text).sort()
    expect(await texts(await dumpPdsRepos(other.url))).toEqual(await texts(dump))

    const port = Number(new URL(other.url).port)
    expect(await portOpen(port)).toBe(true)
    expect(existsSync(other.dataDir)).toBe(true)
    other.kill()
    const { signal } = await other.exited
    expect(signal).toBe('SIGKILL')
    expect(existsSync(other.dataDir)).toBe(false)
    expect(await portOpen(port)).toBe(false)
    await other.stop() // idempotent after kill
  })

  it('stop() ends the child and removes its data dir', async () => {
    const port = Number(new URL(pds.url).port)
    await pds.stop()
    const { code } = await pds.exited
    expect(code).toBe(0)
    expect(existsSync(pds.dataDir)).toBe(false)
    expect(await portOpen(port)).toBe(false)
  })
})
