// Puts test-controlled hosts between skyfill and a reference PDS: a PLC directory that serves the real DID documents
// with #atproto_pds rewritten to a host of the test's choosing, and a repo host that forwards getRepo to the PDS,
// counting the calls per DID and letting the test answer some of them itself (a 429, say). The DID documents are
// the only place skyfill learns where a repository lives, so this is how a test sees, and shapes, every fetch.
import http from 'node:http'
import { startHttpServer, type TestHttpServer } from './http-server.js'

export type RepoRequest = { did: string; at: number; status: number }

/** One request to the repo host (getRepo or getLatestCommit): when it arrived and when its response ended. */
export type RequestSpan = { path: string; at: number; endedAt: number | null }

export type RepoProxy = TestHttpServer & {
  /** Every getRepo, in order of arrival, with the status it was answered with. */
  getRepos: RepoRequest[]
  /** getRepo calls per DID. */
  fetchesOf(did: string): number
  /** Every request, getRepo and getLatestCommit, for rates and requests in flight at the host. */
  spans: RequestSpan[]
}

/**
 * Answers a getRepo instead of the PDS: return true when it wrote the response (the request is then not forwarded).
 * `res.statusCode` must be set by then, for the record.
 */
export type Interceptor = (did: string, res: http.ServerResponse) => boolean

const SYNC_PATHS = ['/xrpc/com.atproto.sync.getRepo', '/xrpc/com.atproto.sync.getLatestCommit']

export async function startRepoProxy(pdsUrl: string, intercept: Interceptor = () => false): Promise<RepoProxy> {
  const getRepos: RepoRequest[] = []
  const spans: RequestSpan[] = []
  const server = await startHttpServer()
  for (const path of SYNC_PATHS) {
    server.route(path, (req, res) => {
      const did = new URL(req.url ?? '/', 'http://x').searchParams.get('did') ?? ''
      const entry = { did, at: Date.now(), status: 0 }
      if (path.endsWith('getRepo')) getRepos.push(entry)
      const span: RequestSpan = { path, at: entry.at, endedAt: null }
      spans.push(span)
      res.on('finish', () => {
        entry.status = res.statusCode
      })
      res.on('close', () => {
        span.endedAt = Date.now()
      })
      if (!intercept(did, res)) forward(pdsUrl, req, res)
    })
  }
  return { ...server, getRepos, spans, fetchesOf: (did) => getRepos.filter((r) => r.did === did).length }
}

/** A PLC directory for `dids` whose documents are `plcUrl`'s, each with its PDS endpoint replaced by `pdsFor(did)`. */
export async function startRewritingPlc(plcUrl: string, dids: readonly string[], pdsFor: (did: string) => string): Promise<TestHttpServer> {
  const server = await startHttpServer()
  for (const did of dids) {
    server.route(`/${encodeURIComponent(did)}`, (_req, res) => {
      void (async () => {
        const real = await fetch(new URL(`/${encodeURIComponent(did)}`, plcUrl))
        if (!real.ok) {
          res.writeHead(real.status, { 'content-type': 'application/json' }).end(await real.text())
          return
        }
        const doc = (await real.json()) as { service?: { id: string; serviceEndpoint: string }[] }
        for (const s of doc.service ?? []) if (s.id === '#atproto_pds') s.serviceEndpoint = pdsFor(did)
        res.writeHead(200, { 'content-type': 'application/did+ld+json' }).end(JSON.stringify(doc))
      })().catch((err: Error) => res.writeHead(502).end(`rewriting PLC: ${err.message}`))
    })
  }
  return server
}

function forward(base: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const upstream = http.request(new URL(req.url ?? '/', base), { method: req.method, headers: { ...req.headers, host: new URL(base).host } }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers)
    up.pipe(res)
  })
  upstream.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502)
    res.end(`proxy to ${base}: ${err.message}`)
  })
  req.pipe(upstream)
}
