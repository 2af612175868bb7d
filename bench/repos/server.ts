// The bench's network of repositories, on 127.0.0.1: one directory port that is the relay (listRepos over every
// repository, paged by cursor; a subscribeRepos with no events), the PLC directory (`GET /<did>`) and the handle
// resolver (com.atproto.identity.resolveHandle, for HANDLE_RESOLVER_URL: the handles have no DNS), and `pdsPorts`
// PDS ports that serve getRepo and getLatestCommit from the cached CARs. Each DID document names one PDS port as its
// service endpoint, round-robin: skyfill's limits are per host (host:port), so several ports are several hosts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { WebSocketServer } from 'ws'
import { didDocument } from '../peer/plc-stub.js'
import { encodeErrorFrame } from '../source/frames.js'
import type { RepoWorkload, StoredRepo } from './store.js'

export type RepoSourceOptions = { pdsPorts: number }

export type RepoSource = {
  /** The directory: RELAY_URL, PLC_URL and HANDLE_RESOLVER_URL. */
  url: string
  /** The PDS hosts' base URLs, in the order DID documents are assigned them. */
  pdsUrls: string[]
  /** getRepo answers served so far, and their bytes. */
  stats(): { getRepo: number; bytes: number; didDocuments: number }
  close(): Promise<void>
}

const MAX_PAGE = 1000

export async function startRepoSource(workload: RepoWorkload, opts: RepoSourceOptions): Promise<RepoSource> {
  const byDid = new Map<string, { repo: StoredRepo; index: number }>()
  const byHandle = new Map<string, string>()
  workload.manifest.repos.forEach((repo, index) => {
    byDid.set(repo.did, { repo, index })
    byHandle.set(repo.handle, repo.did)
  })
  const stats = { getRepo: 0, bytes: 0, didDocuments: 0 }
  const sockets = new Set<Socket>()
  const servers: Server[] = []
  let pdsUrls: string[] = []

  const listen = async (handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void): Promise<Server> => {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://bench')
      try {
        handler(req, res, url)
      } catch (err) {
        json(res, 500, { error: 'InternalServerError', message: (err as Error).message })
      }
    })
    server.keepAliveTimeout = 30_000
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    servers.push(server)
    return server
  }
  const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as { port: number }).port}`

  const directory = await listen((_req, res, url) => {
    const path = url.pathname
    if (path === '/xrpc/com.atproto.sync.listRepos') return listRepos(res, url)
    if (path === '/xrpc/com.atproto.identity.resolveHandle') {
      const did = byHandle.get((url.searchParams.get('handle') ?? '').toLowerCase())
      return did ? json(res, 200, { did }) : json(res, 400, { error: 'HandleNotFound', message: 'Unable to resolve handle' })
    }
    const entry = byDid.get(decodeURIComponent(path.slice(1)))
    if (!entry) return json(res, 404, { message: 'DID not registered' })
    stats.didDocuments++
    return json(res, 200, didDocument(entry.repo, pdsUrls[entry.index % pdsUrls.length]))
  })
  // The relay's subscribeRepos, with nothing in it: every record comes from the repositories.
  const firehose = new WebSocketServer({ noServer: true })
  directory.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const cursor = new URL(req.url ?? '/', 'http://bench').searchParams.get('cursor')
    firehose.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined)
      if (cursor !== null && Number(cursor) > 0) {
        ws.send(encodeErrorFrame('FutureCursor', 'Cursor in the future.'), { binary: true })
        ws.close(1008, 'FutureCursor')
      }
    })
  })

  const listRepos = (res: ServerResponse, url: URL) => {
    const limit = Math.min(MAX_PAGE, Math.max(1, Number(url.searchParams.get('limit') ?? 500) || 500))
    const from = Number(url.searchParams.get('cursor') ?? 0) || 0
    const repos = workload.manifest.repos.slice(from, from + limit)
    const next = from + repos.length
    json(res, 200, {
      repos: repos.map((r) => ({ did: r.did, head: r.commitCid, rev: r.rev, active: true })),
      ...(next < workload.manifest.repos.length ? { cursor: String(next) } : {}),
    })
  }

  const pds = (_req: IncomingMessage, res: ServerResponse, url: URL) => {
    const entry = byDid.get(url.searchParams.get('did') ?? '')
    if (url.pathname === '/xrpc/com.atproto.sync.getRepo') {
      if (!entry) return json(res, 400, { error: 'RepoNotFound', message: 'Could not find repo' })
      stats.getRepo++
      stats.bytes += entry.repo.bytes
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': String(entry.repo.bytes) })
      workload.carStream(entry.repo).on('error', () => res.destroy()).pipe(res)
      return
    }
    if (url.pathname === '/xrpc/com.atproto.sync.getLatestCommit') {
      if (!entry) return json(res, 400, { error: 'RepoNotFound', message: 'Could not find repo' })
      return json(res, 200, { cid: entry.repo.commitCid, rev: entry.repo.rev })
    }
    json(res, 404, { error: 'MethodNotImplemented' })
  }
  if (!Number.isInteger(opts.pdsPorts) || opts.pdsPorts < 1) throw new RangeError(`pdsPorts must be an integer of at least 1, got ${opts.pdsPorts}`)
  for (let i = 0; i < opts.pdsPorts; i++) await listen(pds)
  pdsUrls = servers.slice(1).map(urlOf)

  return {
    url: urlOf(directory),
    pdsUrls,
    stats: () => ({ ...stats }),
    async close() {
      for (const socket of sockets) socket.destroy()
      firehose.close()
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    },
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) })
  res.end(text)
}
