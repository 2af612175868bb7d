import { describe, expect, it } from 'vitest'
import { IdentityCache } from '../../../server/identity/identity-cache.js'
import type { ResolvedIdentity } from '../../../server/identity/resolve-identity.js'

const identity = (did: string, handle: string | null, retryable = false): ResolvedIdentity => ({
  did,
  handle,
  claimedHandle: handle,
  pdsUrl: 'https://pds.example.com',
  signingKey: null,
  problem: retryable ? 'DNS down' : null,
  retryable,
})

/** A resolver that counts calls and answers with the handle currently set for each DID. */
const counting = () => {
  const calls: string[] = []
  const handles = new Map<string, string>()
  let gate: Promise<void> = Promise.resolve()
  return {
    calls,
    handles,
    hold(): () => void {
      let open!: () => void
      gate = new Promise((r) => (open = r))
      return open
    },
    resolve: async (did: string) => {
      calls.push(did)
      const handle = handles.get(did) ?? `${did.slice(-4)}.test`
      await gate
      return identity(did, handle)
    },
  }
}

describe('the identity cache', () => {
  it('resolves a DID once within the TTL', async () => {
    const r = counting()
    const cache = new IdentityCache(r.resolve, { maxEntries: 10, ttlMs: 1000 })
    await cache.get('did:web:a.example')
    const again = await cache.get('did:web:a.example')
    expect(again.handle).toBe('mple.test')
    expect(r.calls).toEqual(['did:web:a.example'])
  })

  it('shares one resolution between callers asking at the same time', async () => {
    const r = counting()
    const cache = new IdentityCache(r.resolve, { maxEntries: 10, ttlMs: 1000 })
    const [a, b] = await Promise.all([cache.get('did:web:a.example'), cache.get('did:web:a.example')])
    expect(a).toBe(b)
    expect(r.calls).toHaveLength(1)
  })

  it('resolves again once the TTL has passed', async () => {
    let now = 0
    const r = counting()
    const cache = new IdentityCache(r.resolve, { maxEntries: 10, ttlMs: 1000, now: () => now })
    await cache.get('did:web:a.example')
    now = 999
    await cache.get('did:web:a.example')
    now = 1000
    await cache.get('did:web:a.example')
    expect(r.calls).toHaveLength(2)
  })

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const r = counting()
    const cache = new IdentityCache(r.resolve, { maxEntries: 2, ttlMs: 60_000 })
    await cache.get('did:web:a.example')
    await cache.get('did:web:b.example')
    await cache.get('did:web:a.example') // a is now the most recently used
    await cache.get('did:web:c.example') // drops b
    expect(cache.size).toBe(2)
    await cache.get('did:web:a.example')
    await cache.get('did:web:b.example')
    expect(r.calls).toEqual(['did:web:a.example', 'did:web:b.example', 'did:web:c.example', 'did:web:b.example'])
  })

  it('resolves afresh after invalidate', async () => {
    const r = counting()
    const cache = new IdentityCache(r.resolve, { maxEntries: 10, ttlMs: 60_000 })
    r.handles.set('did:web:a.example', 'old.test')
    await cache.get('did:web:a.example')
    r.handles.set('did:web:a.example', 'new.test')
    cache.invalidate('did:web:a.example')
    expect((await cache.get('did:web:a.example')).handle).toBe('new.test')
    expect((await cache.get('did:web:a.example')).handle).toBe('new.test')
    expect(r.calls).toHaveLength(2)
  })

  it('does not keep a resolution that was under way when the DID was invalidated', async () => {
    const r = counting()
    const cache = new IdentityCache(r.resolve, { maxEntries: 10, ttlMs: 60_000 })
    r.handles.set('did:web:a.example', 'old.test')
    const open = r.hold()
    const underWay = cache.get('did:web:a.example')
    cache.invalidate('did:web:a.example')
    r.handles.set('did:web:a.example', 'new.test')
    open()
    expect((await underWay).handle).toBe('old.test')
    expect((await cache.get('did:web:a.example')).handle).toBe('new.test')
    expect(r.calls).toHaveLength(2)
  })

  it('keeps neither failures nor results whose handle check is to be retried', async () => {
    let calls = 0
    const cache = new IdentityCache(
      async (did) => {
        calls++
        if (calls === 1) throw new Error('PLC down')
        return identity(did, null, true)
      },
      { maxEntries: 10, ttlMs: 60_000 },
    )
    await expect(cache.get('did:web:a.example')).rejects.toThrow('PLC down')
    expect((await cache.get('did:web:a.example')).retryable).toBe(true)
    await cache.get('did:web:a.example')
    expect(calls).toBe(3)
    expect(cache.size).toBe(0)
  })
})
