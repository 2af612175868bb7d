// Self-test of the harness's multi-PDS network: a second reference PDS registers its accounts on the first one's
// PLC, with a handle domain of its own, and the PLC sends each DID to the PDS that holds it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PdsHandle, startPds } from '../harness/pds.js'
import { seedAccount } from '../harness/seed.js'

type DidDoc = { alsoKnownAs: string[]; service: { id: string; serviceEndpoint: string }[] }

describe('harness: two reference PDSes on one PLC', () => {
  let first: PdsHandle
  let second: PdsHandle

  beforeAll(async () => {
    first = await startPds()
    second = await startPds({ plcUrl: first.plcUrl, handleDomain: '.pds2.test' })
  })

  afterAll(async () => {
    await Promise.all([second?.stop(), first?.stop()])
  })

  it('the second PDS uses the first one’s PLC and serves its own handle domain', async () => {
    expect(second.plcUrl).toBe(first.plcUrl)
    expect(second.url).not.toBe(first.url)
    expect(second.handleDomain).toBe('.pds2.test')
    const res = await fetch(`${second.url}/xrpc/com.atproto.server.describeServer`)
    expect(((await res.json()) as { availableUserDomains: string[] }).availableUserDomains).toEqual(['.pds2.test'])
  })

  it('the PLC resolves an account of each PDS to its own PDS, with distinct handles', async () => {
    const a = await seedAccount(first.url, { index: 1 })
    const b = await seedAccount(second.url, { index: 1, handle: 'user1.pds2.test' })
    expect(a.handle).toBe('user1.test')
    expect(b.handle).toBe('user1.pds2.test')
    const doc = async (did: string) => (await (await fetch(`${first.plcUrl}/${did}`)).json()) as DidDoc
    const pdsOf = (d: DidDoc) => d.service.find((s) => s.id === '#atproto_pds')?.serviceEndpoint
    const [docA, docB] = [await doc(a.did), await doc(b.did)]
    expect(pdsOf(docA)).toBe(first.publicUrl)
    expect(pdsOf(docB)).toBe(second.publicUrl)
    expect(first.publicUrl).not.toBe(second.publicUrl)
    expect(docA.alsoKnownAs).toEqual(['at://user1.test'])
    expect(docB.alsoKnownAs).toEqual(['at://user1.pds2.test'])
    // each PDS lists only its own repository
    const list = async (url: string) =>
      ((await (await fetch(`${url}/xrpc/com.atproto.sync.listRepos`)).json()) as { repos: { did: string }[] }).repos
    expect((await list(first.url)).map((r) => r.did)).toEqual([a.did])
    expect((await list(second.url)).map((r) => r.did)).toEqual([b.did])
  })
})
