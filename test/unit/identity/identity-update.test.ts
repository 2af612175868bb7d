import { describe, expect, it } from 'vitest'
import { IdentityError } from '../../../server/identity/errors.js'
import { identityUpdate } from '../../../server/identity/identity-update.js'
import type { ResolvedIdentity } from '../../../server/identity/resolve-identity.js'

const timing = { ttlMs: 86_400_000, retryMs: 60_000 }
const identity = (over: Partial<ResolvedIdentity> = {}): ResolvedIdentity => ({
  did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
  handle: 'alice.test',
  claimedHandle: 'Alice.test',
  pdsUrl: 'https://pds.example.com',
  signingKey: 'did:key:zQ3sh',
  problem: null,
  retryable: false,
  ...over,
})

describe('what a resolution writes to an actor', () => {
  it('a verified handle and PDS, checked, next check a TTL ahead', () => {
    expect(identityUpdate({ identity: identity() }, timing)).toEqual({
      handle: 'alice.test',
      pdsUrl: 'https://pds.example.com',
      error: null,
      checked: true,
      dueInMs: timing.ttlMs,
    })
  })

  it('an unverified handle replaces the served one with null, with the reason', () => {
    const u = identityUpdate({ identity: identity({ handle: null, problem: 'resolves to did:plc:other' }) }, timing)
    expect(u).toMatchObject({ handle: null, error: 'resolves to did:plc:other', checked: true, dueInMs: timing.ttlMs })
  })

  it('a handle that could not be checked keeps the served handle and is retried soon', () => {
    const u = identityUpdate({ identity: identity({ handle: null, problem: 'DNS down', retryable: true }) }, timing)
    expect(u).toEqual({
      handle: undefined,
      pdsUrl: 'https://pds.example.com',
      error: 'DNS down',
      checked: false,
      dueInMs: timing.retryMs,
    })
  })

  it('a DID that is gone serves no handle and no PDS until a TTL later', () => {
    const error = new IdentityError('not-found', 'did:web:gone.example', 'no document (HTTP 404)')
    expect(identityUpdate({ error }, timing)).toEqual({
      handle: null,
      pdsUrl: null,
      error: 'not-found: did:web:gone.example: no document (HTTP 404)',
      checked: true,
      dueInMs: timing.ttlMs,
    })
  })

  it.each([
    [
      new IdentityError('unavailable', 'did:plc:x', 'PLC answered HTTP 503'),
      'unavailable: did:plc:x: PLC answered HTTP 503',
    ],
    [new TypeError('boom'), 'error: boom'],
  ])('a passing failure keeps everything and is retried soon: %s', (error, message) => {
    expect(identityUpdate({ error }, timing)).toEqual({
      handle: undefined,
      pdsUrl: undefined,
      error: message,
      checked: false,
      dueInMs: timing.retryMs,
    })
  })
})
