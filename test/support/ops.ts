// Hand-made firehose ops for writer tests: real, lexicon-valid records with the runtime types a decoded frame has.
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type {
  AccountEvent,
  CommitPosition,
  CreateOp,
  DeleteOp,
  IdentityEvent,
  RecordValue,
  SyncPosition,
  UpdateOp,
} from '../../server/events/index.js'

const DAG_CBOR = 0x71
let counter = 0

/** A valid, distinct CID for test content (node's sha256 hasher is synchronous). */
export function cidFor(text: string): string {
  const digest = sha256.digest(new TextEncoder().encode(`${text}:${counter++}`))
  if (digest instanceof Promise) throw new Error('expected a synchronous sha256 in node')
  return CID.createV1(DAG_CBOR, digest).toString()
}

/** Stand-ins for TIDs: fixed length, so they sort as strings in the order of n, as TIDs do. */
export function rev(n: number): string {
  return `3l${String(n).padStart(11, '0')}`
}

export type OpMeta = { seq: number; rev: number; did: string; collection: string; rkey: string }

function base(m: OpMeta) {
  return {
    seq: m.seq,
    time: new Date(Date.UTC(2026, 10, 1) + m.seq * 1000).toISOString(),
    did: m.did,
    rev: rev(m.rev),
    collection: m.collection,
    rkey: m.rkey,
    uri: `at://${m.did}/${m.collection}/${m.rkey}`,
  }
}

export function create(m: OpMeta, record: RecordValue): CreateOp {
  return { ...base(m), kind: 'create', cid: cidFor(JSON.stringify(record)), record }
}

export function update(m: OpMeta, record: RecordValue): UpdateOp {
  return { ...base(m), kind: 'update', cid: cidFor(JSON.stringify(record)), record }
}

export function del(m: OpMeta): DeleteOp {
  return { ...base(m), kind: 'delete' }
}

export function identity(seq: number, did: string, handle: string | null): IdentityEvent {
  return { kind: 'identity', seq, time: new Date().toISOString(), did, handle }
}

export function account(seq: number, did: string, status: AccountEvent['status']): AccountEvent {
  return { kind: 'account', seq, time: new Date().toISOString(), did, status }
}

const createdAt = '2026-11-01T12:00:00.000Z'

export const records = {
  post: (text: string): RecordValue => ({ $type: 'app.bsky.feed.post', text, createdAt }),
  like: (uri: string, cid: string): RecordValue => ({ $type: 'app.bsky.feed.like', subject: { uri, cid }, createdAt }),
  follow: (subject: string): RecordValue => ({ $type: 'app.bsky.graph.follow', subject, createdAt }),
  profile: (displayName: string): RecordValue => ({
    $type: 'app.bsky.actor.profile',
    displayName,
    description: `about ${displayName}`,
  }),
}

export function permutations<T>(list: T[]): T[][] {
  if (list.length <= 1) return [list]
  return list.flatMap((item, i) => permutations([...list.slice(0, i), ...list.slice(i + 1)]).map((rest) => [item, ...rest]))
}

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** A #commit's position: rev n after `since` (null: the repo's first commit); data CIDs as plain labels. */
export function commitAt(m: { seq: number; did: string; rev: number; since: number | null; prevData?: string | null; data: string }): CommitPosition {
  return {
    kind: 'commit',
    seq: m.seq,
    time: new Date(Date.UTC(2026, 10, 1) + m.seq * 1000).toISOString(),
    did: m.did,
    rev: rev(m.rev),
    since: m.since === null ? null : rev(m.since),
    prevData: m.prevData ?? null,
    data: m.data,
  }
}

export function syncAt(m: { seq: number; did: string; rev: number; data: string }): SyncPosition {
  return { kind: 'sync', seq: m.seq, time: new Date(Date.UTC(2026, 10, 1) + m.seq * 1000).toISOString(), did: m.did, rev: rev(m.rev), data: m.data }
}
