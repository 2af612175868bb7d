import { describe, expect, it } from 'vitest'
import type { DidDocumentInfo } from '../../../server/identity/did-document.js'
import { IdentityError } from '../../../server/identity/errors.js'
import { resolveIdentity, type IdentityDeps } from '../../../server/identity/resolve-identity.js'

const ALICE = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const BOB = 'did:plc:q6gjnaw2blty4crticxkmujt'

const doc = (over: Partial<DidDocumentInfo> = {}): DidDocumentInfo => ({
  did: ALICE,
  claimedHandle: 'Alice.Example.com',
  pdsUrl: 'https://pds.example.com',
  signingKey: 'did:key:zQ3shexample',
  problems: [],
  ...over,
})

const deps = (document: DidDocumentInfo, handles: Record<string, string | Error>, allowPrivate = false) => {
  const asked: string[] = []
  const d: IdentityDeps = {
    resolveDid: async () => document,
    resolveHandle: async (handle) => {
      asked.push(handle)
      const answer = handles[handle]
      if (answer instanceof Error) throw answer
      return answer ?? null
    },
    allowPrivate,
  }
  return { deps: d, asked }
}

describe('resolving an identity', () => {
  it('serves the claimed handle, lower-cased, when it resolves back to the DID', async () => {
    const { deps: d, asked } = deps(doc(), { 'alice.example.com': ALICE })
    expect(await resolveIdentity(ALICE, d)).toEqual({
      did: ALICE,
      handle: 'alice.example.com',
      claimedHandle: 'Alice.Example.com',
      pdsUrl: 'https://pds.example.com',
      signingKey: 'did:key:zQ3shexample',
      problem: null,
      retryable: false,
    })
    expect(asked).toEqual(['alice.example.com'])
  })

  it('serves no handle when the claimed one resolves to another DID', async () => {
    const id = await resolveIdentity(ALICE, deps(doc(), { 'alice.example.com': BOB }).deps)
    expect(id.handle).toBeNull()
    expect(id.claimedHandle).toBe('Alice.Example.com')
    expect(id.problem).toBe(`claimed handle "Alice.Example.com" resolves to ${BOB}, not to this DID`)
    expect(id.pdsUrl).toBe('https://pds.example.com')
  })

  it('serves no handle when the claimed one does not resolve', async () => {
    const id = await resolveIdentity(ALICE, deps(doc(), {}).deps)
    expect(id.handle).toBeNull()
    expect(id.problem).toContain('does not resolve to a DID')
    expect(id.retryable).toBe(false)
  })

  it('does not try to resolve a claimed handle that is not a valid one', async () => {
    const { deps: d, asked } = deps(doc({ claimedHandle: 'not a handle' }), {})
    const id = await resolveIdentity(ALICE, d)
    expect(id.problem).toContain('is not a valid handle')
    expect(asked).toEqual([])
  })

  it('marks a handle that could not be checked as retryable', async () => {
    const down = new IdentityError('unavailable', 'alice.example.com', 'DNS TXT failed: ETIMEOUT')
    const id = await resolveIdentity(ALICE, deps(doc(), { 'alice.example.com': down }).deps)
    expect(id.handle).toBeNull()
    expect(id.retryable).toBe(true)
    expect(id.problem).toContain('could not be checked')
  })

  it('passes on the document problems when it claims no handle', async () => {
    const id = await resolveIdentity(
      ALICE,
      deps(doc({ claimedHandle: null, problems: ['the document claims no handle'] }), {}).deps,
    )
    expect(id).toMatchObject({ handle: null, problem: 'the document claims no handle', retryable: false })
  })

  it.each([
    'http://127.0.0.1:2583',
    'http://localhost:2583',
    'https://[::1]',
    'https://10.0.0.8',
    'http://[::ffff:192.168.1.1]',
  ])('refuses a PDS endpoint at %s without ALLOW_PRIVATE_HOSTS, and keeps it with', async (pdsUrl) => {
    const refused = await resolveIdentity(ALICE, deps(doc({ pdsUrl }), { 'alice.example.com': ALICE }).deps)
    expect(refused.pdsUrl).toBeNull()
    expect(refused.problem).toContain(`PDS endpoint ${pdsUrl} is refused`)
    expect(refused.handle).toBe('alice.example.com')
    const allowed = await resolveIdentity(ALICE, deps(doc({ pdsUrl }), { 'alice.example.com': ALICE }, true).deps)
    expect(allowed.pdsUrl).toBe(pdsUrl)
    expect(allowed.problem).toBeNull()
  })

  it('throws the document error when there is no document', async () => {
    const gone = new IdentityError('not-found', ALICE, 'no document (HTTP 410)')
    const d: IdentityDeps = {
      resolveDid: () => Promise.reject(gone),
      resolveHandle: async () => null,
      allowPrivate: false,
    }
    await expect(resolveIdentity(ALICE, d)).rejects.toBe(gone)
  })
})
