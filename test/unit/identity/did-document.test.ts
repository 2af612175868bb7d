import { Secp256k1Keypair } from '@atproto/crypto'
import { describe, expect, it } from 'vitest'
import { parseDidDocument } from '../../../server/identity/did-document.js'
import { IdentityError } from '../../../server/identity/errors.js'

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const didKey = (await Secp256k1Keypair.create()).did()

// The shape the PLC directory serves.
const plcDocument = (over: Record<string, unknown> = {}) => ({
  '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
  id: DID,
  alsoKnownAs: ['at://Alice.example.com'],
  verificationMethod: [
    { id: `${DID}#atproto`, type: 'Multikey', controller: DID, publicKeyMultibase: didKey.slice('did:key:'.length) },
  ],
  service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com/' }],
  ...over,
})

const invalid = (doc: unknown) => {
  try {
    parseDidDocument(DID, doc)
  } catch (err) {
    expect(err).toBeInstanceOf(IdentityError)
    expect((err as IdentityError).kind).toBe('invalid-document')
    return (err as IdentityError).message
  }
  throw new Error('expected the document to be refused')
}

describe('reading a DID document', () => {
  it('takes the claimed handle, the PDS endpoint and the signing key as a did:key', () => {
    expect(parseDidDocument(DID, plcDocument())).toEqual({
      did: DID,
      claimedHandle: 'Alice.example.com',
      pdsUrl: 'https://pds.example.com',
      signingKey: didKey,
      problems: [],
    })
  })

  it('finds entries by fragment or by the full DID, and takes the first at:// alias', () => {
    const info = parseDidDocument(
      DID,
      plcDocument({
        alsoKnownAs: [42, 'https://alice.example.com', 'at://first.example.com', 'at://second.example.com'],
        service: [
          { id: '#bsky_fg', type: 'BskyFeedGenerator', serviceEndpoint: 'https://feed.example.com' },
          {
            id: `${DID}#atproto_pds`,
            type: 'AtprotoPersonalDataServer',
            serviceEndpoint: 'http://pds.example.com:2583',
          },
        ],
      }),
    )
    expect(info.claimedHandle).toBe('first.example.com')
    expect(info.pdsUrl).toBe('http://pds.example.com:2583')
  })

  it('refuses a document for another DID', () => {
    expect(invalid(plcDocument({ id: 'did:plc:someoneelse234567abcdefg' }))).toContain('is for "did:plc:someoneelse')
  })

  it.each([
    ['null', null],
    ['a list', [plcDocument()]],
    ['a string', 'did'],
  ])('refuses a document that is %s', (_what, doc) => {
    expect(invalid(doc)).toContain('not a JSON object')
  })

  it.each([
    [{ service: undefined }, 'names no PDS'],
    [
      { service: [{ id: '#atproto_pds', type: 'Other', serviceEndpoint: 'https://pds.example.com' }] },
      'of type "Other"',
    ],
    [
      { service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'ftp://x.com' }] },
      'not an http(s) URL',
    ],
    [
      { service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: { uri: 'https://x' } }] },
      'not a URL',
    ],
    [{ service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'pds' }] }, 'not a URL'],
    [{ service: { id: '#atproto_pds' } }, 'not a list'],
  ])('leaves the PDS empty when the document has %j, saying why', (over, why) => {
    const info = parseDidDocument(DID, plcDocument(over))
    expect(info.pdsUrl).toBeNull()
    expect(info.problems.join()).toContain(why)
    expect(info.claimedHandle).toBe('Alice.example.com')
  })

  it.each([
    [{ alsoKnownAs: undefined }, 'claims no handle'],
    [{ alsoKnownAs: ['https://alice.example.com'] }, 'no at:// alias'],
    [{ alsoKnownAs: 'at://alice.example.com' }, 'not a list'],
  ])('leaves the handle empty when the document has %j', (over, why) => {
    const info = parseDidDocument(DID, plcDocument(over))
    expect(info.claimedHandle).toBeNull()
    expect(info.problems.join()).toContain(why)
    expect(info.pdsUrl).toBe('https://pds.example.com')
  })

  it('leaves the key empty when it is missing, of an unknown type or does not decode', () => {
    const method = (m: Record<string, unknown>) => ({ verificationMethod: [{ id: '#atproto', controller: DID, ...m }] })
    expect(parseDidDocument(DID, plcDocument({ verificationMethod: [] })).problems).toEqual([
      'the document has no #atproto verification method',
    ])
    const unknown = parseDidDocument(DID, plcDocument(method({ type: 'Ed25519', publicKeyMultibase: 'z6Mk' })))
    expect(unknown.signingKey).toBeNull()
    expect(unknown.problems.join()).toContain('unsupported type "Ed25519"')
    const broken = parseDidDocument(DID, plcDocument(method({ type: 'Multikey', publicKeyMultibase: 'not-base58!' })))
    expect(broken.signingKey).toBeNull()
    expect(broken.problems.join()).toContain('does not decode')
  })
})
