// app.bsky.graph.getFollowers and app.bsky.graph.getFollows through AtpAgent, against the standard world.
import { lexicons } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, BOB, CAROL, DAVE, ERIN, FRANK, did, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

async function followers(params: { actor: string; limit?: number; cursor?: string }) {
  const { data } = await server.agent.app.bsky.graph.getFollowers(params)
  lexicons.assertValidXrpcOutput('app.bsky.graph.getFollowers', data)
  return data
}

async function follows(params: { actor: string; limit?: number; cursor?: string }) {
  const { data } = await server.agent.app.bsky.graph.getFollows(params)
  lexicons.assertValidXrpcOutput('app.bsky.graph.getFollows', data)
  return data
}

describe('app.bsky.graph.getFollowers', () => {
  it("lists alice's followers, most recent follow first, without takendown or deactivated accounts", async () => {
    const data = await followers({ actor: ALICE })
    expect(data.subject).toMatchObject({ did: ALICE, handle: 'alice.test', displayName: 'Alice' })
    expect(data.followers.map((p) => p.did)).toEqual([ERIN, CAROL, BOB])
    expect(data.cursor).toBeUndefined()
  })

  it('pages through every follower exactly once with limit 2', async () => {
    const first = await followers({ actor: 'alice.test', limit: 2 })
    expect(first.followers.map((p) => p.did)).toEqual([ERIN, CAROL])
    const second = await followers({ actor: 'alice.test', limit: 2, cursor: first.cursor })
    expect(second.followers.map((p) => p.did)).toEqual([BOB])
    expect(second.cursor).toBeUndefined()
  })

  it('answers 400 "Profile not found" for a takendown actor', async () => {
    await expect(server.agent.app.bsky.graph.getFollowers({ actor: DAVE })).rejects.toMatchObject({
      status: 400,
      error: 'InvalidRequest',
      message: 'Profile not found',
    })
  })

  it('answers 400 "Profile not found" for an unknown actor', async () => {
    await expect(server.agent.app.bsky.graph.getFollowers({ actor: did('nobody') })).rejects.toMatchObject({ status: 400 })
  })
})

describe('app.bsky.graph.getFollows', () => {
  it('lists whom alice follows, with a never-seen account as handle.invalid and without the takendown one', async () => {
    const data = await follows({ actor: ALICE })
    expect(data.follows.map((p) => p.did)).toEqual([FRANK, BOB])
    expect(data.follows[0]).toEqual({ did: FRANK, handle: 'handle.invalid', labels: [] })
    expect(data.follows[1]).toMatchObject({ did: BOB, handle: 'bob.test', displayName: 'Bob' })
  })

  it('pages with limit 1 and covers every follow once', async () => {
    const first = await follows({ actor: ALICE, limit: 1 })
    const second = await follows({ actor: ALICE, limit: 1, cursor: first.cursor })
    const third = await follows({ actor: ALICE, limit: 1, cursor: second.cursor })
    expect([...first.follows, ...second.follows, ...third.follows].map((p) => p.did)).toEqual([FRANK, BOB])
    expect(third.follows).toEqual([])
    expect(third.cursor).toBeUndefined()
  })
})
