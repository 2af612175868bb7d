// app.bsky.actor.getProfile: one actor's detailed profile view, with follower, follow and post counts.
import { ApiError, atIdentifier } from '../params.js'
import { loadActorCounts, loadActors, resolveActor } from './data.js'
import type { XrpcQuery } from './method.js'
import { profileViewDetailed } from './views.js'

export const profileNotFound = () => new ApiError(400, 'InvalidRequest', 'Profile not found')

export const getProfile: XrpcQuery = {
  nsid: 'app.bsky.actor.getProfile',
  async handler(ctx, query) {
    const actor = atIdentifier(query, 'actor')
    // A DID needs no lookup of its own (loadActors finds only served actors): one round trip less.
    const did = actor.kind === 'did' ? actor.did : await resolveActor(ctx.pool, actor)
    if (did === null) throw profileNotFound()
    const [actors, counts] = await Promise.all([loadActors(ctx.pool, [did]), loadActorCounts(ctx.pool, did)])
    const row = actors.get(did)
    if (!row) throw profileNotFound()
    return profileViewDetailed(row, counts, ctx.media)
  },
}
