// The identity service the peer (Bluesky's appview indexer) resolves the synthetic accounts against. The workload's
// DIDs are in no PLC directory, and the peer resolves every new actor inline, before the actor's first event counts
// as done: against a directory that knows no DIDs it would ask again on every event of that actor (it only stores
// an actor it could resolve) and spend the replay on failed lookups. So this serves what a live network would: the
// DID document of each account (its signing key, its handle, this server as its PDS), each handle's
// `/.well-known/atproto-did` (under a path of its own: the peer's fetch sends handle lookups here, see
// peer-child.ts), and, as the PDS of every account, "RepoNotFound" for getLatestCommit, which is the truth for
// the only accounts the peer asks about: those the workload deletes.
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type StubAccount = { did: string; handle: string; signingKey: string }

export type PlcStub = {
  url: string
  /** Requests answered, by kind: what the peer's identity work cost it in lookups. */
  requests(): { didDocuments: number; handles: number; latestCommits: number; notFound: number }
  close(): Promise<void>
}

/** The path the peer's fetch maps `https://<handle>/.well-known/atproto-did` to, on this server. */
export const HANDLE_PATH = '/.well-known/atproto-did'

export function didDocument(account: StubAccount, pdsUrl: string) {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: account.did,
    alsoKnownAs: [`at://${account.handle}`],
    verificationMethod: [
      {
        id: `${account.did}#atproto`,
        type: 'Multikey',
        controller: account.did,
        publicKeyMultibase: account.signingKey.slice('did:key:'.length),
      },
    ],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pdsUrl }],
  }
}

export async function startPlcStub(accounts: readonly StubAccount[]): Promise<PlcStub> {
  const byDid = new Map(accounts.map((a) => [a.did, a]))
  const byHandle = new Map(accounts.map((a) => [a.handle.toLowerCase(), a]))
  const counts = { didDocuments: 0, handles: 0, latestCommits: 0, notFound: 0 }
  const sockets = new Set<Socket>()
  let url = ''
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://localhost')
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    if (u.pathname === HANDLE_PATH) {
      const account = byHandle.get((u.searchParams.get('handle') ?? '').toLowerCase())
      if (account) {
        counts.handles++
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(account.did)
      }
    } else if (u.pathname === '/xrpc/com.atproto.sync.getLatestCommit') {
      counts.latestCommits++
      return json(400, { error: 'RepoNotFound', message: `Could not find repo for DID: ${u.searchParams.get('did')}` })
    } else {
      const account = byDid.get(decodeURIComponent(u.pathname.slice(1)))
      if (account) {
        counts.didDocuments++
        return json(200, didDocument(account, url))
      }
    }
    counts.notFound++
    json(404, { error: 'NotFound' })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    requests: () => ({ ...counts }),
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
