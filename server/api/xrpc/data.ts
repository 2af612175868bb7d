// The read queries every XRPC method shares: resolving actors, loading actors with their profiles, posts and their
// counts. All SQL here is constant text with parameters; nothing is built from input.
// Every identifier column is COLLATE "C" (see 001_init.sql), so joins between them use their indexes directly.
import type pg from 'pg'
import type { AtIdentifier } from '../params.js'

/** Accounts in these states are not served: their records are treated as absent everywhere. */
export const HIDDEN_STATUSES = ['takendown', 'suspended', 'deactivated', 'deleted'] as const

const HIDDEN_LIST = HIDDEN_STATUSES.map((s) => `'${s}'`).join(', ')

/** SQL condition: the actors row under `alias` may be served. */
export function servedSql(alias: string): string {
  return `${alias}.status NOT IN (${HIDDEN_LIST})`
}

/** SQL condition: the actors row under `alias` is hidden; the same list as the partial index actors_hidden_idx's. */
export function hiddenSql(alias: string): string {
  return `${alias}.status IN (${HIDDEN_LIST})`
}

export const PROFILE_COLLECTION = 'app.bsky.actor.profile'
export const POST_COLLECTION = 'app.bsky.feed.post'

export type ProfileRow = {
  uri: string
  cid: string
  record: Record<string, unknown>
  avatarCid: string | null
  bannerCid: string | null
  createdAt: Date | null
  indexedAt: Date
}

export type ActorRow = {
  did: string
  handle: string | null
  indexedAt: Date
  profile: ProfileRow | null
}

export type PostRow = {
  uri: string
  cid: string
  did: string
  record: Record<string, unknown>
  createdAt: Date
  indexedAt: Date
  replyParent: string | null
  replyRoot: string | null
  embedUri: string | null
}

export type PostCounts = { replies: number; reposts: number; likes: number }

export type ActorCounts = { followers: number; follows: number; posts: number }

/** The served DID an actor parameter names, or null. A handle claimed by several DIDs goes to the latest claim. */
export async function resolveActor(pool: pg.Pool, id: AtIdentifier): Promise<string | null> {
  const { rows } =
    id.kind === 'did'
      ? await pool.query<{ did: string }>(`SELECT a.did FROM actors a WHERE a.did = $1 AND ${servedSql('a')}`, [id.did])
      : await pool.query<{ did: string }>(
          `SELECT a.did FROM actors a WHERE a.handle = $1 AND ${servedSql('a')} ORDER BY a.handle_seq DESC LIMIT 1`,
          [id.handle],
        )
  return rows[0]?.did ?? null
}

/** The DID an AT-URI's authority names (a handle is resolved), served or not; null for an unknown handle. */
export async function authorityDid(pool: pg.Pool, id: AtIdentifier): Promise<string | null> {
  if (id.kind === 'did') return id.did
  const { rows } = await pool.query<{ did: string }>(
    `SELECT a.did FROM actors a WHERE a.handle = $1 ORDER BY a.handle_seq DESC LIMIT 1`,
    [id.handle],
  )
  return rows[0]?.did ?? null
}

/** Served actors among `dids`, each with its profile record when it has one. */
export async function loadActors(pool: pg.Pool, dids: readonly string[]): Promise<Map<string, ActorRow>> {
  const out = new Map<string, ActorRow>()
  const unique = [...new Set(dids)]
  if (unique.length === 0) return out
  const { rows } = await pool.query(
    `SELECT a.did, a.handle, a.indexed_at,
            p.uri AS p_uri, p.cid AS p_cid, p.record AS p_record, p.avatar_cid, p.banner_cid,
            p.created_at AS p_created_at, p.indexed_at AS p_indexed_at
       FROM actors a
       LEFT JOIN profiles p ON p.uri = 'at://' || a.did || '/${PROFILE_COLLECTION}/self'
      WHERE a.did = ANY($1::text[]) AND ${servedSql('a')}`,
    [unique],
  )
  for (const r of rows) {
    out.set(r.did, {
      did: r.did,
      handle: r.handle,
      indexedAt: r.indexed_at,
      profile:
        r.p_uri === null
          ? null
          : {
              uri: r.p_uri,
              cid: r.p_cid,
              record: r.p_record,
              avatarCid: r.avatar_cid,
              bannerCid: r.banner_cid,
              createdAt: r.p_created_at,
              indexedAt: r.p_indexed_at,
            },
    })
  }
  return out
}

/** Followers, follows and posts of one actor, counting only what the lists would serve. */
export async function loadActorCounts(pool: pg.Pool, did: string): Promise<ActorCounts> {
  const { rows } = await pool.query(
    // A follow of an actor this appview has no row for still counts, so the follows count excludes only hidden
    // subjects: an anti-join against the few hidden actors (their partial index), where an outer join with every
    // actor made Postgres hash the whole actors table for each profile.
    `SELECT
       (SELECT count(*) FROM follows f
         WHERE f.subject_did = $1 AND EXISTS (SELECT 1 FROM actors a WHERE a.did = f.did AND ${servedSql('a')})) AS followers,
       (SELECT count(*) FROM follows f
         WHERE f.did = $1 AND NOT EXISTS (SELECT 1 FROM actors a WHERE a.did = f.subject_did AND ${hiddenSql('a')})) AS follows,
       (SELECT count(*) FROM posts p WHERE p.did = $1) AS posts`,
    [did],
  )
  const r = rows[0]
  return { followers: Number(r.followers), follows: Number(r.follows), posts: Number(r.posts) }
}

/** Posts among `uris` whose authors are served. */
export async function loadPosts(pool: pg.Pool, uris: readonly string[]): Promise<Map<string, PostRow>> {
  const out = new Map<string, PostRow>()
  const unique = [...new Set(uris)]
  if (unique.length === 0) return out
  const { rows } = await pool.query(
    `SELECT p.uri, p.cid, p.did, p.record, p.created_at, p.indexed_at, p.reply_parent, p.reply_root, p.embed_uri
       FROM posts p JOIN actors a ON a.did = p.did
      WHERE p.uri = ANY($1::text[]) AND ${servedSql('a')}`,
    [unique],
  )
  for (const r of rows) {
    out.set(r.uri, {
      uri: r.uri,
      cid: r.cid,
      did: r.did,
      record: r.record,
      createdAt: r.created_at,
      indexedAt: r.indexed_at,
      replyParent: r.reply_parent,
      replyRoot: r.reply_root,
      embedUri: r.embed_uri,
    })
  }
  return out
}

/** Replies, reposts and likes of each post, by served actors only (so a count equals its list's length). */
export async function loadPostCounts(pool: pg.Pool, uris: readonly string[]): Promise<Map<string, PostCounts>> {
  const out = new Map<string, PostCounts>()
  const unique = [...new Set(uris)]
  if (unique.length === 0) return out
  const { rows } = await pool.query(
    `SELECT u.uri,
       (SELECT count(*) FROM posts p JOIN actors a ON a.did = p.did
         WHERE p.reply_parent = u.uri AND ${servedSql('a')}) AS replies,
       (SELECT count(*) FROM reposts r JOIN actors a ON a.did = r.did
         WHERE r.subject_uri = u.uri AND ${servedSql('a')}) AS reposts,
       (SELECT count(*) FROM likes l JOIN actors a ON a.did = l.did
         WHERE l.subject_uri = u.uri AND ${servedSql('a')}) AS likes
     FROM unnest($1::text[]) AS u(uri)`,
    [unique],
  )
  for (const r of rows) out.set(r.uri, { replies: Number(r.replies), reposts: Number(r.reposts), likes: Number(r.likes) })
  return out
}
