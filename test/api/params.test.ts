// Bad parameters are answered 400 {"error":"InvalidRequest"} with a message naming the parameter, before any query.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, POST, getJson, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

const enc = encodeURIComponent
const post = () => enc(server.world.posts.a1.uri)

const CASES: [string, () => string, string][] = [
  ['limit=0 is below the minimum', () => `app.bsky.feed.getAuthorFeed?actor=${ALICE}&limit=0`, 'limit'],
  ['limit=abc is not an integer', () => `app.bsky.feed.getAuthorFeed?actor=${ALICE}&limit=abc`, 'limit'],
  ['limit=101 is above the maximum', () => `app.bsky.graph.getFollowers?actor=${ALICE}&limit=101`, 'limit'],
  ['limit=1.5 is not an integer', () => `app.bsky.feed.getLikes?uri=${post()}&limit=1.5`, 'limit'],
  ['limit given twice', () => `app.bsky.graph.getFollows?actor=${ALICE}&limit=1&limit=2`, 'limit'],
  ["actor='not a did' is neither a DID nor a handle", () => `app.bsky.actor.getProfile?actor=${enc('not a did')}`, 'actor'],
  ['actor=did:nope is not a DID', () => `app.bsky.actor.getProfile?actor=did:nope`, 'actor'],
  ['a missing actor', () => `app.bsky.actor.getProfile`, 'actor'],
  ['uri garbage is not an AT-URI', () => `app.bsky.feed.getPostThread?uri=garbage`, 'uri'],
  ['uri without a record key', () => `app.bsky.feed.getLikes?uri=${enc(`at://${ALICE}/${POST}`)}`, 'uri'],
  ['a missing uri', () => `app.bsky.feed.getRepostedBy`, 'uri'],
  ['depth=-1 is below the minimum', () => `app.bsky.feed.getPostThread?uri=${post()}&depth=-1`, 'depth'],
  ['depth=1001 is above the maximum', () => `app.bsky.feed.getPostThread?uri=${post()}&depth=1001`, 'depth'],
  ['parentHeight=x is not an integer', () => `app.bsky.feed.getPostThread?uri=${post()}&parentHeight=x`, 'parentHeight'],
  ['cursor garbage is not a cursor', () => `app.bsky.feed.getAuthorFeed?actor=${ALICE}&cursor=garbage`, 'cursor'],
  [
    'a cursor naming an impossible date',
    () => `app.bsky.feed.getAuthorFeed?actor=${ALICE}&cursor=${Buffer.from(JSON.stringify(['2025-02-30T00:00:00.000000Z', 'at://x'])).toString('base64url')}`,
    'cursor',
  ],
  ['cid garbage is not a CID', () => `app.bsky.feed.getLikes?uri=${post()}&cid=garbage`, 'cid'],
  ['includePins=maybe is not a boolean', () => `app.bsky.feed.getAuthorFeed?actor=${ALICE}&includePins=maybe`, 'includePins'],
]

describe('parameter validation', () => {
  it.each(CASES)('answers 400 InvalidRequest naming the parameter when %s', async (_name, path, param) => {
    const { status, body } = await getJson(server.url, `/xrpc/${path()}`)
    expect(status).toBe(400)
    expect(body.error).toBe('InvalidRequest')
    expect(body.message).toMatch(new RegExp(`^${param}\\b`))
  })

  it('reports a bad parameter through AtpAgent as an XRPC error', async () => {
    await expect(server.agent.app.bsky.feed.getAuthorFeed({ actor: ALICE, limit: 0 })).rejects.toMatchObject({
      status: 400,
      error: 'InvalidRequest',
      message: 'limit must be an integer from 1 to 100, got 0',
    })
  })
})
