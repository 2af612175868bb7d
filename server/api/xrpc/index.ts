// The XRPC read API (app.bsky.* queries) a Bluesky client can call: GET /xrpc/<nsid>. Each method is its own file;
// shared views are in ./views.ts, shared queries in ./data.ts. Unknown methods get 501 MethodNotImplemented.
import { Router } from 'express'
import type pg from 'pg'
import { wrongHttpMethod, xrpcCors, xrpcNotFound } from '../security.js'
import { getAuthorFeed } from './get-author-feed.js'
import { getFollowers } from './get-followers.js'
import { getFollows } from './get-follows.js'
import { getLikes } from './get-likes.js'
import { getPostThread } from './get-post-thread.js'
import { getProfile } from './get-profile.js'
import { getRepostedBy } from './get-reposted-by.js'
import type { ViewContext } from './hydrate.js'
import type { XrpcQuery } from './method.js'
import { DEFAULT_MEDIA_URLS, type MediaUrls } from './views.js'

export const XRPC_QUERIES: readonly XrpcQuery[] = [
  getProfile,
  getAuthorFeed,
  getPostThread,
  getLikes,
  getRepostedBy,
  getFollowers,
  getFollows,
]

export type XrpcOptions = { media?: Partial<MediaUrls> }

/** The XRPC routes, reading through `apiPool` only. */
export function xrpcRoutes(apiPool: pg.Pool, options: XrpcOptions = {}): Router {
  const ctx: ViewContext = { pool: apiPool, media: { ...DEFAULT_MEDIA_URLS, ...options.media } }
  const router = Router()
  router.use('/xrpc', xrpcCors())
  for (const method of XRPC_QUERIES) {
    const path = `/xrpc/${method.nsid}`
    router.get(path, async (req, res) => {
      const body = await method.handler(ctx, req.query as Record<string, unknown>)
      res.json(body)
    })
    router.all(path, wrongHttpMethod())
  }
  router.use('/xrpc', xrpcNotFound())
  return router
}
