// What a name that does not resolve means depends on whose name it is: the PLC directory's says nothing about the
// DID (retry), a did:web host's says the DID has no document. Names under .invalid never resolve (RFC 6761).
import { describe, expect, it } from 'vitest'
import { resolveDid } from '../../../server/identity/did-resolver.js'
import { IdentityError } from '../../../server/identity/errors.js'

const kindOf = (did: string, plcUrl: string) =>
  resolveDid(did, { plcUrl, allowPrivate: false, timeoutMs: 3000 }).then(
    () => 'resolved',
    (err: unknown) => (err instanceof IdentityError ? err.kind : `unexpected ${String(err)}`),
  )

describe('resolveDid when a hostname does not resolve', () => {
  it('calls a did:plc unavailable when the PLC directory cannot be found, so it is retried', async () => {
    expect(await kindOf('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'http://plc.invalid')).toBe('unavailable')
  })

  it('calls a did:web not found when its own host does not exist', async () => {
    expect(await kindOf('did:web:nowhere.invalid', 'http://plc.invalid')).toBe('not-found')
  })
})
