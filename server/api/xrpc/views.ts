// The view builders every method shares: rows in, lexicon views out (app.bsky.actor.defs#profileView*,
// app.bsky.feed.defs#postView, embed views, self-labels). Pure: no database; ./hydrate.ts loads what they need.
//
// Records are stored in lex-JSON form ({$link} for CIDs, blobs as {$type:'blob', ref:{$link}}), which is exactly the
// JSON form the views carry, so a record is served as stored.
import type {
  $Typed,
  AppBskyActorDefs,
  AppBskyEmbedExternal,
  AppBskyEmbedImages,
  AppBskyEmbedRecord,
  AppBskyEmbedRecordWithMedia,
  AppBskyEmbedVideo,
  AppBskyFeedDefs,
  ComAtprotoLabelDefs,
} from '@atproto/api'
import { INVALID_HANDLE, isValidHandle } from '@atproto/syntax'
import type { ActorCounts, ActorRow, PostCounts, PostRow } from './data.js'

/** Where image and video URLs point: a Bluesky-compatible image CDN and video service. */
export type MediaUrls = { imageCdn: string; videoService: string }

export const DEFAULT_MEDIA_URLS: MediaUrls = { imageCdn: 'https://cdn.bsky.app', videoService: 'https://video.bsky.app' }

type ImageKind = 'avatar' | 'avatar_thumbnail' | 'banner' | 'feed_thumbnail' | 'feed_fullsize'

export function imageUrl(media: MediaUrls, kind: ImageKind, did: string, cid: string): string {
  return `${media.imageCdn}/img/${kind}/plain/${did}/${cid}@jpeg`
}

// ---- records (lex JSON) ----

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The CID of a blob in lex JSON: {$type:'blob', ref:{$link}} or the legacy {cid, mimeType}. */
export function blobCid(blob: unknown): string | undefined {
  if (!isObject(blob)) return undefined
  if (isObject(blob.ref) && typeof blob.ref.$link === 'string') return blob.ref.$link
  return str(blob.cid)
}

/** A $type with the '#main' spelling of the main definition removed. */
const typeOf = (v: Json): string | undefined => str(v.$type)?.replace(/#main$/, '')

/** A record's self-labels (com.atproto.label.defs#selfLabels) as label views, attributed to its author. */
export function selfLabels(did: string, uri: string, cid: string, record: Json, cts: string): ComAtprotoLabelDefs.Label[] {
  const labels = record.labels
  if (!isObject(labels) || !Array.isArray(labels.values)) return []
  return labels.values
    .map((l) => (isObject(l) ? str(l.val) : undefined))
    .filter((val): val is string => val !== undefined)
    .map((val) => ({ src: did, uri, cid, val, cts }))
}

// ---- profiles ----

/** The handle to show: the indexed one when it is a valid handle, else the lexicon's 'handle.invalid'. */
export function displayHandle(handle: string | null): string {
  return handle !== null && isValidHandle(handle) ? handle : INVALID_HANDLE
}

/** A DID we know nothing about (a follow's subject never seen on the firehose): identity only. */
export function unknownActor(did: string): ActorRow {
  return { did, handle: null, indexedAt: new Date(0), profile: null }
}

// The builders return views without $type (they are refs, not union members), so each extends the one before.
type Untyped<T> = Omit<T, '$type'>

export function profileViewBasic(actor: ActorRow, media: MediaUrls): Untyped<AppBskyActorDefs.ProfileViewBasic> {
  const p = actor.profile
  const record = p?.record ?? {}
  const view: Untyped<AppBskyActorDefs.ProfileViewBasic> = { did: actor.did, handle: displayHandle(actor.handle) }
  const displayName = str(record.displayName)
  if (displayName !== undefined) view.displayName = displayName
  const pronouns = str(record.pronouns)
  if (pronouns !== undefined) view.pronouns = pronouns
  if (p?.avatarCid) view.avatar = imageUrl(media, 'avatar_thumbnail', actor.did, p.avatarCid)
  view.labels = p ? selfLabels(actor.did, p.uri, p.cid, record, (p.createdAt ?? p.indexedAt).toISOString()) : []
  if (p?.createdAt) view.createdAt = p.createdAt.toISOString()
  return view
}

export function profileView(actor: ActorRow, media: MediaUrls): Untyped<AppBskyActorDefs.ProfileView> {
  const view: Untyped<AppBskyActorDefs.ProfileView> = profileViewBasic(actor, media)
  const p = actor.profile
  if (p?.avatarCid) view.avatar = imageUrl(media, 'avatar', actor.did, p.avatarCid)
  const description = str(p?.record.description)
  if (description !== undefined) view.description = description
  if (p) view.indexedAt = p.indexedAt.toISOString()
  return view
}

export function profileViewDetailed(actor: ActorRow, counts: ActorCounts, media: MediaUrls): Untyped<AppBskyActorDefs.ProfileViewDetailed> {
  const view: Untyped<AppBskyActorDefs.ProfileViewDetailed> = profileView(actor, media)
  const p = actor.profile
  if (p?.bannerCid) view.banner = imageUrl(media, 'banner', actor.did, p.bannerCid)
  const website = str(p?.record.website)
  if (website !== undefined) view.website = website
  view.followersCount = counts.followers
  view.followsCount = counts.follows
  view.postsCount = counts.posts
  const pinned = p?.record.pinnedPost
  if (isObject(pinned) && typeof pinned.uri === 'string' && typeof pinned.cid === 'string') {
    view.pinnedPost = { uri: pinned.uri, cid: pinned.cid }
  }
  view.indexedAt = (p?.indexedAt ?? actor.indexedAt).toISOString()
  return view
}

// ---- embeds ----

type MediaView =
  | $Typed<AppBskyEmbedImages.View>
  | $Typed<AppBskyEmbedVideo.View>
  | $Typed<AppBskyEmbedExternal.View>

type EmbedView = MediaView | $Typed<AppBskyEmbedRecord.View> | $Typed<AppBskyEmbedRecordWithMedia.View>

type QuotedView = AppBskyEmbedRecord.View['record']

function aspectRatio(v: unknown): { width: number; height: number } | undefined {
  if (!isObject(v) || typeof v.width !== 'number' || typeof v.height !== 'number') return undefined
  return { width: v.width, height: v.height }
}

/** The view of an images, video or external embed; undefined for anything else or a malformed one. */
export function mediaView(embed: unknown, did: string, media: MediaUrls): MediaView | undefined {
  if (!isObject(embed)) return undefined
  switch (typeOf(embed)) {
    case 'app.bsky.embed.images': {
      if (!Array.isArray(embed.images)) return undefined
      const images: AppBskyEmbedImages.ViewImage[] = []
      for (const image of embed.images) {
        const cid = isObject(image) ? blobCid(image.image) : undefined
        if (!isObject(image) || cid === undefined) continue
        const view: AppBskyEmbedImages.ViewImage = {
          thumb: imageUrl(media, 'feed_thumbnail', did, cid),
          fullsize: imageUrl(media, 'feed_fullsize', did, cid),
          alt: str(image.alt) ?? '',
        }
        const ratio = aspectRatio(image.aspectRatio)
        if (ratio) view.aspectRatio = ratio
        images.push(view)
      }
      return { $type: 'app.bsky.embed.images#view', images }
    }
    case 'app.bsky.embed.video': {
      const cid = blobCid(embed.video)
      if (cid === undefined) return undefined
      const base = `${media.videoService}/watch/${encodeURIComponent(did)}/${cid}`
      const view: $Typed<AppBskyEmbedVideo.View> = {
        $type: 'app.bsky.embed.video#view',
        cid,
        playlist: `${base}/playlist.m3u8`,
        thumbnail: `${base}/thumbnail.jpg`,
      }
      const alt = str(embed.alt)
      if (alt !== undefined) view.alt = alt
      const ratio = aspectRatio(embed.aspectRatio)
      if (ratio) view.aspectRatio = ratio
      const presentation = str(embed.presentation)
      if (presentation !== undefined) view.presentation = presentation
      return view
    }
    case 'app.bsky.embed.external': {
      const ext = embed.external
      if (!isObject(ext) || typeof ext.uri !== 'string') return undefined
      const view: AppBskyEmbedExternal.ViewExternal = {
        uri: ext.uri,
        title: str(ext.title) ?? '',
        description: str(ext.description) ?? '',
      }
      const thumb = blobCid(ext.thumb)
      if (thumb !== undefined) view.thumb = imageUrl(media, 'feed_thumbnail', did, thumb)
      return { $type: 'app.bsky.embed.external#view', external: view }
    }
    default:
      return undefined
  }
}

/** The AT-URI a record or recordWithMedia embed quotes. */
export function quotedUri(embed: unknown): string | undefined {
  if (!isObject(embed)) return undefined
  const type = typeOf(embed)
  const ref = type === 'app.bsky.embed.record' ? embed.record : type === 'app.bsky.embed.recordWithMedia' ? (isObject(embed.record) ? embed.record.record : undefined) : undefined
  return isObject(ref) ? str(ref.uri) : undefined
}

/**
 * The view of a post's embed. `quoted` gives the view of a quoted record (a viewRecord, or viewNotFound for one
 * not served).
 */
export function embedView(embed: unknown, did: string, media: MediaUrls, quoted: (uri: string) => QuotedView): EmbedView | undefined {
  if (!isObject(embed)) return undefined
  const type = typeOf(embed)
  if (type === 'app.bsky.embed.record' || type === 'app.bsky.embed.recordWithMedia') {
    const uri = quotedUri(embed)
    if (uri === undefined) return undefined
    const record: $Typed<AppBskyEmbedRecord.View> = { $type: 'app.bsky.embed.record#view', record: quoted(uri) }
    if (type === 'app.bsky.embed.record') return record
    const mediaPart = mediaView(embed.media, did, media)
    return mediaPart ? { $type: 'app.bsky.embed.recordWithMedia#view', record, media: mediaPart } : record
  }
  return mediaView(embed, did, media)
}

export function notFoundRecord(uri: string): $Typed<AppBskyEmbedRecord.ViewNotFound> {
  return { $type: 'app.bsky.embed.record#viewNotFound', uri, notFound: true }
}

// ---- posts ----

const NO_COUNTS: PostCounts = { replies: 0, reposts: 0, likes: 0 }

export function postLabels(post: PostRow): ComAtprotoLabelDefs.Label[] {
  return selfLabels(post.did, post.uri, post.cid, post.record, post.createdAt.toISOString())
}

/** A quoted post, as it appears inside another post's embed: its media, but no further quote. */
export function quotedPostView(post: PostRow, author: ActorRow, counts: PostCounts | undefined, media: MediaUrls): $Typed<AppBskyEmbedRecord.ViewRecord> {
  const c = counts ?? NO_COUNTS
  const view: $Typed<AppBskyEmbedRecord.ViewRecord> = {
    $type: 'app.bsky.embed.record#viewRecord',
    uri: post.uri,
    cid: post.cid,
    author: profileViewBasic(author, media),
    value: post.record,
    labels: postLabels(post),
    replyCount: c.replies,
    repostCount: c.reposts,
    likeCount: c.likes,
    indexedAt: post.indexedAt.toISOString(),
  }
  const embed = post.record.embed
  const mediaPart = isObject(embed) && typeOf(embed) === 'app.bsky.embed.recordWithMedia' ? mediaView(embed.media, post.did, media) : mediaView(embed, post.did, media)
  if (mediaPart) view.embeds = [mediaPart]
  return view
}

export function postView(
  post: PostRow,
  author: ActorRow,
  counts: PostCounts | undefined,
  media: MediaUrls,
  quoted: (uri: string) => QuotedView,
): AppBskyFeedDefs.PostView {
  const c = counts ?? NO_COUNTS
  const view: AppBskyFeedDefs.PostView = {
    uri: post.uri,
    cid: post.cid,
    author: profileViewBasic(author, media),
    record: post.record,
    replyCount: c.replies,
    repostCount: c.reposts,
    likeCount: c.likes,
    indexedAt: post.indexedAt.toISOString(),
    labels: postLabels(post),
  }
  const embed = embedView(post.record.embed, post.did, media, quoted)
  if (embed) view.embed = embed
  return view
}

export function notFoundPost(uri: string): $Typed<AppBskyFeedDefs.NotFoundPost> {
  return { $type: 'app.bsky.feed.defs#notFoundPost', uri, notFound: true }
}

export function typedPostView(view: AppBskyFeedDefs.PostView): $Typed<AppBskyFeedDefs.PostView> {
  return { $type: 'app.bsky.feed.defs#postView', ...view }
}
