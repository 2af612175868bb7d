// Identities of real accounts on Bluesky's reference PDS, resolved through its PLC directory and its resolveHandle
// (handles like user1.test have no DNS); documents no real part would serve come from a local test server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { harnessIdResolver, startPds, type PdsHandle } from '../../harness/pds.js'
import { seedWorkload, type SeedSummary } from '../../harness/seed.js'
import { startHttpServer, type TestHttpServer } from '../../support/http-server.js'
import { didDocument, didWebOf, serveDidWeb, servePlcDid } from '../../support/identity-fixtures.js'
import { resolveDid } from '../../../server/identity/did-resolver.js'
import { IdentityError } from '../../../server/identity/errors.js'
import { IdentityCache } from '../../../server/identity/identity-cache.js'
import {
  networkIdentityDeps,
  resolveIdentity,
  type IdentityNetworkOptions,
} from '../../../server/identity/resolve-identity.js'

let pds: PdsHandle
let seed: SeedSummary
let web: TestHttpServer
let plc: TestHttpServer
let options: IdentityNetworkOptions

beforeAll(async () => {
  pds = await startPds()
  seed = await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 2, seed: 11 })
  web = await startHttpServer()
  plc = await startHttpServer()
  options = { plcUrl: pds.plcUrl, handleResolverUrl: pds.url, allowPrivate: true, timeoutMs: 3000 }
})

afterAll(async () => {
  await Promise.all([pds?.stop(), web?.close(), plc?.close()])
})

const identityError = async (promise: Promise<unknown>): Promise<IdentityError> => {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(IdentityError)
  return err as IdentityError
}

describe('identities on the reference PDS', () => {
  it('gives each seeded account its real handle, the PDS its document names, and its signing key', async () => {
    const reference = harnessIdResolver(pds)
    for (const account of seed.accounts) {
      const id = await resolveIdentity(account.did, networkIdentityDeps(options))
      const data = await reference.did.resolveAtprotoData(account.did)
      expect(id).toEqual({
        did: account.did,
        handle: account.handle,
        claimedHandle: account.handle,
        pdsUrl: pds.publicUrl,
        signingKey: data.signingKey,
        problem: null,
        retryable: false,
      })
    }
  })

  it('picks up a handle changed on the PDS once the cached identity is invalidated', async () => {
    const account = seed.accounts[0]
    const cache = new IdentityCache((did) => resolveIdentity(did, networkIdentityDeps(options)), {
      maxEntries: 100,
      ttlMs: 60_000,
    })
    expect((await cache.get(account.did)).handle).toBe(account.handle)
    await account.agent.com.atproto.identity.updateHandle({ handle: 'renamed.test' })
    expect((await cache.get(account.did)).handle).toBe(account.handle)
    cache.invalidate(account.did)
    const renamed = await cache.get(account.did)
    expect(renamed.handle).toBe('renamed.test')
    expect(renamed.claimedHandle).toBe('renamed.test')
  })

  it('serves no handle for a DID whose document claims a handle that belongs to another DID', async () => {
    const victim = seed.accounts[1]
    const did = didWebOf(web)
    serveDidWeb(web, didDocument(did, { alsoKnownAs: [`at://${victim.handle}`], pdsUrl: pds.publicUrl }))
    const id = await resolveIdentity(did, networkIdentityDeps(options))
    expect(id.handle).toBeNull()
    expect(id.claimedHandle).toBe(victim.handle)
    expect(id.pdsUrl).toBe(pds.publicUrl)
    expect(id.problem).toContain(`claimed handle "${victim.handle}" resolves to ${victim.did}, not to this DID`)
  })

  it('serves no handle for a claimed handle the resolver does not know', async () => {
    const did = didWebOf(web)
    serveDidWeb(web, didDocument(did, { alsoKnownAs: ['at://nobody.test'], pdsUrl: pds.publicUrl }))
    const id = await resolveIdentity(did, networkIdentityDeps(options))
    expect(id.handle).toBeNull()
    expect(id.problem).toContain('claimed handle "nobody.test" does not resolve to a DID')
  })
})

describe('documents that cannot be used', () => {
  it('a did:web whose document is missing is not found', async () => {
    serveDidWeb(web, 404)
    const err = await identityError(resolveIdentity(didWebOf(web), networkIdentityDeps(options)))
    expect(err.kind).toBe('not-found')
    expect(err.retryable).toBe(false)
    expect(err.message).toContain('HTTP 404')
  })

  it('a did:plc the directory does not know is not found', async () => {
    const err = await identityError(resolveDid('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', options))
    expect(err.kind).toBe('not-found')
  })

  it('a document that names no PDS leaves the PDS empty and says why', async () => {
    const did = didWebOf(web)
    serveDidWeb(web, didDocument(did, { alsoKnownAs: [`at://${seed.accounts[2].handle}`], pdsUrl: null }))
    const id = await resolveIdentity(did, networkIdentityDeps(options))
    expect(id.pdsUrl).toBeNull()
    expect(id.problem).toContain('the document names no PDS (no #atproto_pds service)')
  })

  it('a document for another DID is invalid', async () => {
    serveDidWeb(web, didDocument(seed.accounts[2].did, { pdsUrl: pds.publicUrl }))
    const err = await identityError(resolveIdentity(didWebOf(web), networkIdentityDeps(options)))
    expect(err.kind).toBe('invalid-document')
    expect(err.message).toContain(`is for "${seed.accounts[2].did}"`)
  })

  it('a did:web on a private address is refused without ALLOW_PRIVATE_HOSTS', async () => {
    serveDidWeb(web, didDocument(didWebOf(web), { pdsUrl: pds.publicUrl }))
    const err = await identityError(resolveDid(didWebOf(web), { ...options, allowPrivate: false }))
    expect(err.kind).toBe('refused')
    expect(err.message).toContain('localhost resolves only to refused addresses: 127.0.0.1 (loopback')
  })

  it('a PDS endpoint on 127.0.0.1 is refused without ALLOW_PRIVATE_HOSTS, from a document of the trusted PLC', async () => {
    const did = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
    servePlcDid(plc, did, () => didDocument(did, { pdsUrl: 'http://127.0.0.1:2583' }))
    const id = await resolveIdentity(did, networkIdentityDeps({ ...options, plcUrl: plc.url, allowPrivate: false }))
    expect(id.pdsUrl).toBeNull()
    expect(id.problem).toContain('PDS endpoint http://127.0.0.1:2583 is refused: loopback (127.0.0.0/8)')
  })

  it.each([
    ['answers 503', 503],
    ['answers 429', 429],
  ])('a PLC directory that %s is unavailable, to be retried', async (_what, status) => {
    const did = seed.accounts[2].did
    servePlcDid(plc, did, () => status)
    const err = await identityError(resolveDid(did, { ...options, plcUrl: plc.url }))
    expect(err.kind).toBe('unavailable')
    expect(err.retryable).toBe(true)
    expect(err.message).toContain(`HTTP ${status}`)
  })

  it('a PLC directory that is not there is unavailable', async () => {
    const gone = await startHttpServer()
    await gone.close()
    const err = await identityError(resolveDid(seed.accounts[2].did, { ...options, plcUrl: gone.url }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toContain('ECONNREFUSED')
  })

  it('a PLC directory that never answers is unavailable after the timeout', async () => {
    const did = seed.accounts[2].did
    plc.route(`/${encodeURIComponent(did)}`, () => undefined)
    const err = await identityError(resolveDid(did, { ...options, plcUrl: plc.url, timeoutMs: 300 }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toContain('no response headers within 300 ms')
  })

  it('a method atproto does not use is unsupported', async () => {
    const err = await identityError(resolveDid('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme', options))
    expect(err.kind).toBe('unsupported-method')
  })
})
