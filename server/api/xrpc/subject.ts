// The subject of getLikes / getRepostedBy: an AT-URI (its handle authority resolved) and an optional CID. A post
// that is not served (not indexed, or by an account not served) is not found; other records (feed generators,
// lists) are taken as given, since their likes are indexed whether or not the record is.
import { ApiError, optionalCid, recordUri, type Query } from '../params.js'
import { authorityDid, loadPosts, POST_COLLECTION } from './data.js'
import type { ViewContext } from './hydrate.js'

export type Subject = { uri: string; cid: string | undefined }

export async function subjectParam(ctx: ViewContext, query: Query): Promise<Subject> {
  const uri = recordUri(query, 'uri')
  const cid = optionalCid(query, 'cid')
  const notFound = () => new ApiError(400, 'InvalidRequest', `Post not found: ${query.uri as string}`)
  const did = await authorityDid(ctx.pool, uri.authority)
  if (did === null) throw notFound()
  const subject = `at://${did}/${uri.collection}/${uri.rkey}`
  if (uri.collection === POST_COLLECTION && (await loadPosts(ctx.pool, [subject])).size === 0) throw notFound()
  return { uri: subject, cid }
}
