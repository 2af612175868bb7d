// A relay, a PLC directory and a PDS in one small test server, for a few DIDs of which one may misbehave in one
// chosen way: the faults of a network where anyone runs a PDS (issue 15), which no real PDS shows on demand.
//
// Three listeners on 127.0.0.1, one handler: `url` is the relay (subscribeRepos: a source that holds no events,
// listRepos: every DID) and the PLC directory (`/<did>`: a DID document naming the DID's #atproto key and PDS);
// `pdsUrl` serves the healthy repositories and `badPdsUrl` the misbehaving one, so that parking a bad host (429,
// 5xx) is seen to leave the others alone. Repositories are small signed CARs (repo-car-builder.ts), sent in chunks
// whose bytes are counted, so a test can tell how much of a CAR went out before the reader hung up.
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { TID } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import { WebSocketServer } from 'ws'
import { encodeErrorFrame } from '../../bench/source/frames.js'
import { buildRepoCar, carBytes, type Block, type BuiltRepo, type RepoRecord } from './repo-car-builder.js'

/** The one way a DID misbehaves; everything else about it is healthy. */
export type Fault =
  /** getRepo answers 429 the first `times` times, with Bluesky's ratelimit-* headers (reset 1 s ahead) or bare. */
  | { kind: 'rate-limited'; headers: boolean; times: number }
  /** getRepo always answers this status. */
  | { kind: 'server-error'; status: number }
  /** getRepo sends half the CAR, then nothing, the connection kept open. */
  | { kind: 'stall-mid-car' }
  /** getRepo sends half the CAR and ends the response cleanly. */
  | { kind: 'truncated-car' }
  /** getRepo sends another DID's repository, signed by that DID's key. */
  | { kind: 'foreign-commit' }
  /** The commit is signed by a key other than the one the DID document names. */
  | { kind: 'wrong-key' }
  /** One record block's bytes are not those its CID hashes. */
  | { kind: 'bad-block' }
  /** getRepo answers 400 with this XRPC error (RepoTakendown, RepoDeactivated, RepoNotFound, ...). */
  | { kind: 'account-error'; error: string }
  /** The PLC directory answers 404 for the DID. */
  | { kind: 'no-document' }
  /** The DID document has no #atproto_pds service. */
  | { kind: 'no-pds' }
  /** The DID document names this PDS endpoint (a private address, ...). */
  | { kind: 'pds-endpoint'; url: string }
  /** getRepo redirects to a second URL, which redirects back. */
  | { kind: 'redirect-loop' }

export type HostileRepo = {
  /** Valid posts in the repository. */
  records: number
  /** Each post's text is padded to about this many bytes (a CAR of a chosen size). */
  recordBytes?: number
  /** One more record of this many bytes (over the record cap). */
  oversizeRecordBytes?: number
  fault?: Fault
}

export type HostileOptions = {
  /** From the first DID document asked for, the directory answers 503 for this long. */
  plcOutageMs?: number
  /** The directory answers every DID document request 429 with `retry-after` of this many seconds. */
  plcRetryAfterS?: number
}

/** `did`: the one a getRepo or getLatestCommit asked for, or whose document was asked for. */
export type ServedRequest = { listener: 'directory' | 'pds' | 'bad-pds'; path: string; did: string | null; status: number; at: number }

export type HostilePds = {
  /** The relay and PLC directory: http://127.0.0.1:port */
  url: string
  pdsUrl: string
  badPdsUrl: string
  /** name → DID, for the names of the repositories asked for. */
  dids: Record<string, string>
  /** Every request, in arrival order, with the status it was answered with. */
  requests: ServedRequest[]
  /** getRepo body bytes the socket accepted for a DID, over all its requests. */
  carBytesSent(did: string): number
  /** The size of a DID's whole CAR. */
  carSize(did: string): number
  /** The URI of a repository's record over the record cap, when it has one. */
  oversizeUri(name: string): string | null
  /** collection → uri → cid: the records the named repositories hold (within the record cap). */
  recordsOf(names: string[]): Map<string, Map<string, string>>
  close(): Promise<void>
}

type Served = {
  name: string
  did: string
  keypair: Secp256k1Keypair
  repo: BuiltRepo
  /** What getRepo sends: the repository, or the fault's version of it. */
  car: Uint8Array
  fault: Fault | null
  oversizeUri: string | null
  getRepoCount: number
}

const CHUNK_BYTES = 32 * 1024
const POST = 'app.bsky.feed.post'
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** A did:plc made from a name, stable across runs. */
function plcDid(seed: string): string {
  const hash = createHash('sha256').update(`hostile-pds:${seed}`).digest()
  let out = ''
  for (let i = 0; i < 24; i++) out += BASE32[hash[i]! & 31]
  return `did:plc:${out}`
}

function posts(spec: HostileRepo, clock: { us: number }): RepoRecord[] {
  const records: RepoRecord[] = []
  const text = (i: number, bytes: number) => `post ${i} `.padEnd(Math.max(8, bytes), 'x')
  const next = () => TID.fromTime((clock.us += 1000), 0).toString()
  for (let i = 0; i < spec.records; i++) {
    const createdAt = new Date(Math.floor(clock.us / 1000)).toISOString()
    records.push({ key: `${POST}/${next()}`, record: { $type: POST, text: text(i, spec.recordBytes ?? 20), createdAt } })
  }
  if (spec.oversizeRecordBytes) {
    const createdAt = new Date(Math.floor(clock.us / 1000)).toISOString()
    records.push({ key: `${POST}/${next()}`, record: { $type: POST, text: text(-1, spec.oversizeRecordBytes), createdAt } })
  }
  return records
}

async function serve(name: string, spec: HostileRepo, runId: string, clock: { us: number }): Promise<Served> {
  const did = plcDid(`${runId}:${name}`)
  const keypair = await Secp256k1Keypair.create()
  const rev = () => TID.fromTime((clock.us += 1000), 0).toString()
  const records = posts(spec, clock)
  const repo = await buildRepoCar({ did, keypair, rev: rev(), records })
  const fault = spec.fault ?? null
  let car = repo.bytes
  if (fault?.kind === 'foreign-commit') {
    const other = plcDid(`${runId}:${name}:other`)
    car = (await buildRepoCar({ did: other, keypair: await Secp256k1Keypair.create(), rev: rev(), records })).bytes
  } else if (fault?.kind === 'wrong-key') {
    car = (await buildRepoCar({ did, keypair: await Secp256k1Keypair.create(), rev: rev(), records })).bytes
  } else if (fault?.kind === 'bad-block') {
    const [first, ...rest] = [...repo.records.values()]
    const forged: Block = { cid: first!.cid, bytes: Buffer.from(first!.bytes).fill(0x61, 10, 20) }
    car = carBytes(repo.root, [repo.commit, ...repo.nodes, forged, ...rest])
  }
  const oversize = spec.oversizeRecordBytes ? records[records.length - 1]!.key : null
  return { name, did, keypair, repo, car, fault, oversizeUri: oversize ? `at://${did}/${oversize}` : null, getRepoCount: 0 }
}

function didDocument(s: Served, endpoint: string | null): Record<string, unknown> {
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: s.did,
    alsoKnownAs: [],
    verificationMethod: [
      { id: `${s.did}#atproto`, type: 'Multikey', controller: s.did, publicKeyMultibase: s.keypair.did().slice('did:key:'.length) },
    ],
    service: endpoint ? [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: endpoint }] : [],
  }
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))

export async function startHostilePds(repos: Record<string, HostileRepo>, options: HostileOptions = {}): Promise<HostilePds> {
  const runId = Math.random().toString(36).slice(2)
  const clock = { us: Date.UTC(2024, 0, 1) * 1000 }
  const served: Served[] = []
  for (const [name, spec] of Object.entries(repos)) served.push(await serve(name, spec, runId, clock))
  const byDid = new Map(served.map((s) => [s.did, s]))
  const requests: ServedRequest[] = []
  const sent = new Map<string, number>()
  const sockets = new Set<Socket>()
  let outageFrom: number | null = null
  const urls = { directory: '', pds: '', 'bad-pds': '' }

  const sendCar = (res: http.ServerResponse, s: Served, bytes: Uint8Array, end: boolean) => {
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
    let offset = 0
    let closed = false
    res.on('close', () => (closed = true))
    const pump = () => {
      if (closed) return
      if (offset >= bytes.length) {
        if (end) res.end()
        return
      }
      const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + CHUNK_BYTES))
      offset += chunk.length
      res.write(chunk, (err) => {
        if (err) return
        sent.set(s.did, (sent.get(s.did) ?? 0) + chunk.length)
        // A moment between chunks, as a network has: the reader hangs up before the kernel holds the rest.
        setTimeout(pump, 5)
      })
    }
    pump()
  }

  const getRepo = (res: http.ServerResponse, s: Served, url: URL): number => {
    s.getRepoCount++
    const f = s.fault
    switch (f?.kind) {
      case 'rate-limited': {
        if (s.getRepoCount > f.times) break
        const headers: Record<string, string> = f.headers
          ? {
              'ratelimit-limit': '3000',
              'ratelimit-remaining': '0',
              'ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1),
              'ratelimit-policy': '3000;w=300',
            }
          : {}
        json(res, 429, { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }, headers)
        return 429
      }
      case 'server-error':
        json(res, f.status, { error: 'InternalServerError', message: 'Internal Server Error' })
        return f.status
      case 'account-error':
        json(res, 400, { error: f.error, message: `Repo is ${f.error.replace(/^Repo/, '').toLowerCase()}: ${s.did}` })
        return 400
      case 'redirect-loop': {
        const next = new URL(url.pathname, url)
        next.searchParams.set('did', s.did)
        if (!url.searchParams.has('hop')) next.searchParams.set('hop', '1')
        res.writeHead(302, { location: `${next.pathname}${next.search}` }).end()
        return 302
      }
      case 'stall-mid-car':
        sendCar(res, s, s.car.subarray(0, Math.floor(s.car.length / 2)), false)
        return 200
      case 'truncated-car':
        sendCar(res, s, s.car.subarray(0, Math.floor(s.car.length / 2)), true)
        return 200
    }
    sendCar(res, s, s.car, true)
    return 200
  }

  const endpointOf = (s: Served): string | null => {
    const f = s.fault
    if (f?.kind === 'no-pds') return null
    if (f?.kind === 'pds-endpoint') return f.url
    return f ? urls['bad-pds'] : urls.pds
  }

  const handle = (listener: ServedRequest['listener'], req: http.IncomingMessage, res: http.ServerResponse): number => {
    const url = new URL(req.url ?? '/', 'http://x')
    const did = url.searchParams.get('did')
    const s = did ? byDid.get(did) : undefined
    if (listener === 'directory' && url.pathname === '/xrpc/com.atproto.sync.listRepos') {
      json(res, 200, { repos: served.map((r) => ({ did: r.did, head: r.repo.root.toString(), rev: r.repo.rev, active: true })) })
      return 200
    }
    const path = decodeURIComponent(url.pathname)
    if (listener === 'directory' && path.startsWith('/did:')) {
      const doc = byDid.get(path.slice(1))
      outageFrom ??= Date.now()
      if (options.plcRetryAfterS) {
        res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(options.plcRetryAfterS) }).end('Too Many Requests')
        return 429
      }
      if (options.plcOutageMs && Date.now() - outageFrom < options.plcOutageMs) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable')
        return 503
      }
      if (!doc || doc.fault?.kind === 'no-document') {
        json(res, 404, { message: `DID not registered: ${path.slice(1)}` })
        return 404
      }
      json(res, 200, didDocument(doc, endpointOf(doc)))
      return 200
    }
    if (listener !== 'directory' && url.pathname === '/xrpc/com.atproto.sync.getRepo') {
      if (!s) {
        json(res, 400, { error: 'RepoNotFound', message: `Could not find repo for DID: ${did}` })
        return 400
      }
      return getRepo(res, s, url)
    }
    if (listener !== 'directory' && url.pathname === '/xrpc/com.atproto.sync.getLatestCommit' && s) {
      json(res, 200, { cid: s.repo.root.toString(), rev: s.repo.rev })
      return 200
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route ${url.pathname}`)
    return 404
  }

  // The relay holds no events: a cursor-less or zero cursor hears nothing, any later one is in the future.
  const wss = new WebSocketServer({ noServer: true })
  const servers = (['directory', 'pds', 'bad-pds'] as const).map((listener) => {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      const path = decodeURIComponent(url.pathname)
      const did = path.startsWith('/did:') ? path.slice(1) : url.searchParams.get('did')
      const entry: ServedRequest = { listener, path, did, status: 0, at: Date.now() }
      requests.push(entry)
      entry.status = handle(listener, req, res)
    })
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (listener !== 'directory' || url.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') return socket.destroy()
      wss.handleUpgrade(req, socket, head, (ws) => {
        const cursor = Number(url.searchParams.get('cursor') ?? 0)
        if (cursor > 0) ws.send(encodeErrorFrame('FutureCursor', 'Cursor in the future.'))
        ws.close(1000)
      })
    })
    return { listener, server }
  })
  for (const { listener, server } of servers) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    urls[listener] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  return {
    url: urls.directory,
    pdsUrl: urls.pds,
    badPdsUrl: urls['bad-pds'],
    dids: Object.fromEntries(served.map((s) => [s.name, s.did])),
    requests,
    carBytesSent: (did) => sent.get(did) ?? 0,
    carSize: (did) => byDid.get(did)?.car.length ?? 0,
    oversizeUri: (name) => served.find((s) => s.name === name)?.oversizeUri ?? null,
    recordsOf(names) {
      const out = new Map<string, Map<string, string>>()
      for (const s of served.filter((r) => names.includes(r.name))) {
        for (const [key, block] of s.repo.records) {
          const uri = `at://${s.did}/${key}`
          if (uri === s.oversizeUri) continue
          const collection = key.split('/')[0]!
          if (!out.has(collection)) out.set(collection, new Map())
          out.get(collection)!.set(uri, block.cid.toString())
        }
      }
      return out
    },
    async close() {
      for (const client of wss.clients) client.terminate()
      for (const socket of sockets) socket.destroy()
      await Promise.all(servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))))
    },
  }
}
