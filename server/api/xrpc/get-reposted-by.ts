// app.bsky.feed.getRepostedBy: who reposted a record, most recent repost first, by served accounts only.
import type { AppBskyFeedGetRepostedBy } from '@atproto/api'
import { engagements } from './engagements.js'
import type { XrpcQuery } from './method.js'

export const getRepostedBy: XrpcQuery = {
  nsid: 'app.bsky.feed.getRepostedBy',
  async handler(ctx, query) {
    const { subject, items, cursor } = await engagements(ctx, query, 'reposts')
    const out: AppBskyFeedGetRepostedBy.OutputSchema = { uri: subject.uri, repostedBy: items.map((r) => r.actor) }
    if (subject.cid !== undefined) out.cid = subject.cid
    if (cursor !== undefined) out.cursor = cursor
    return out
  },
}
