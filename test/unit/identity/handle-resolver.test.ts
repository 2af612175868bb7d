import { describe, expect, it } from 'vitest'
import { IdentityError } from '../../../server/identity/errors.js'
import { didFromTxtRecords, didFromWellKnown, resolveHandle } from '../../../server/identity/handle-resolver.js'

const ALICE = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const BOB = 'did:plc:q6gjnaw2blty4crticxkmujt'

const dnsError = (code: string) => Object.assign(new Error(`queryTxt ${code}`), { code })
const fakeDns = (answer: string[][] | Error) => {
  const asked: string[] = []
  return {
    asked,
    resolveTxt: async (name: string) => {
      asked.push(name)
      if (answer instanceof Error) throw answer
      return answer
    },
  }
}

describe('the DID in _atproto TXT records', () => {
  it('is the one did= entry, its chunks joined', () => {
    expect(didFromTxtRecords([['v=spf1 -all'], ['did=did:plc:ewvi7nxz', 'youn6zhxrhs64oiz']])).toBe(ALICE)
  })

  it('is the same DID written twice', () => {
    expect(didFromTxtRecords([[`did=${ALICE}`], [`did=${ALICE}`]])).toBe(ALICE)
  })

  it('is ambiguous when two different DIDs are named', () => {
    expect(didFromTxtRecords([[`did=${ALICE}`], [`did=${BOB}`]])).toBe('ambiguous')
  })

  it('is none when no entry is a did= one, or it holds no DID', () => {
    expect(didFromTxtRecords([])).toBeNull()
    expect(didFromTxtRecords([['hello'], ['did=not a did']])).toBeNull()
  })
})

describe('the DID in a .well-known/atproto-did file', () => {
  it('is its first line, trimmed', () => {
    expect(didFromWellKnown(`${ALICE}\n`)).toBe(ALICE)
    expect(didFromWellKnown(`  ${ALICE}  \nsomething else`)).toBe(ALICE)
  })

  it('is none when the first line is not a DID', () => {
    expect(didFromWellKnown('<html>not found</html>')).toBeNull()
    expect(didFromWellKnown(`\n${ALICE}`)).toBeNull()
  })
})

describe('resolving a handle without a handle resolver service', () => {
  const opts = (dns: ReturnType<typeof fakeDns>) => ({ allowPrivate: false, timeoutMs: 2000, dns })

  it('asks DNS for _atproto.<handle>, lower-cased', async () => {
    const dns = fakeDns([[`did=${ALICE}`]])
    expect(await resolveHandle('Alice.Example.COM', opts(dns))).toBe(ALICE)
    expect(dns.asked).toEqual(['_atproto.alice.example.com'])
  })

  it('fails a handle whose TXT records name two DIDs', async () => {
    expect(await resolveHandle('alice.example.com', opts(fakeDns([[`did=${ALICE}`], [`did=${BOB}`]])))).toBeNull()
  })

  it('does not ask anyone about something that is not a handle', async () => {
    const dns = fakeDns([[`did=${ALICE}`]])
    expect(await resolveHandle('evil.com/path?x=', opts(dns))).toBeNull()
    expect(await resolveHandle('handle.invalid', opts(dns))).toBeNull()
    expect(dns.asked).toEqual([])
  })

  it('finds nothing when there is no TXT record and the handle host does not exist', async () => {
    expect(await resolveHandle('nobody.test', opts(fakeDns(dnsError('ENOTFOUND'))))).toBeNull()
  })

  it('is unavailable when DNS could not be asked and the handle host vouches for nothing', async () => {
    const err = await resolveHandle('nobody.test', opts(fakeDns(dnsError('ETIMEOUT')))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityError)
    expect((err as IdentityError).kind).toBe('unavailable')
    expect((err as IdentityError).message).toContain('DNS TXT _atproto.nobody.test failed: ETIMEOUT')
  })
})
