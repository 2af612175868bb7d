// DID documents and directories that misbehave on purpose, served from a local test server: a did:web whose
// document says what a test wants, and a PLC directory that is down, or serves made-up documents, or passes
// requests on to the real one.
import type { TestHttpServer } from './http-server.js'

export type DocumentShape = { alsoKnownAs?: string[]; pdsUrl?: string | null }

/** A DID document as the PLC directory writes one (without a key: skyfill does not need it to serve a handle). */
export function didDocument(did: string, shape: DocumentShape): Record<string, unknown> {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: did,
    alsoKnownAs: shape.alsoKnownAs ?? [],
    verificationMethod: [],
    service: shape.pdsUrl
      ? [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: shape.pdsUrl }]
      : [],
  }
}

/** The did:web the server answers for (did:web:localhost%3A<port>, fetched over http as local networks do). */
export function didWebOf(server: TestHttpServer): string {
  return `did:web:localhost%3A${server.port}`
}

/** Serves `doc` (or a bare status) as the server's did:web document. */
export function serveDidWeb(server: TestHttpServer, doc: Record<string, unknown> | number): void {
  server.route('/.well-known/did.json', (_req, res) => {
    if (typeof doc === 'number') return res.writeHead(doc).end()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc))
  })
}

/** Makes the server answer for `did` as a PLC directory: with a document, a status, or the real directory's answer. */
export function servePlcDid(server: TestHttpServer, did: string, answer: () => Record<string, unknown> | number | URL) {
  server.route(`/${encodeURIComponent(did)}`, (_req, res) => {
    const a = answer()
    if (typeof a === 'number') return res.writeHead(a).end()
    if (a instanceof URL) {
      fetch(new URL(`/${encodeURIComponent(did)}`, a)).then(
        async (upstream) =>
          res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text()),
        () => res.writeHead(502).end(),
      )
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a))
  })
}
