// A relay in front of a reference PDS that loses one event: HTTP is passed through (listRepos, getRepo, ...), and the
// firehose is relayed frame for frame except the one with seq `dropSeq`, on every subscription, which never
// arrives. What a consumer meets when a relay drops an event: the repo's next commit names a `since` it never saw.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import { decodeLean } from '../../server/pipeline/decoder/lean.js'

/** `dropped`: the seqs that were lost (one, however many connections). */
export type DroppingRelay = { url: string; dropped: number[]; close(): Promise<void> }

export async function startDroppingRelay(pdsUrl: string, dropSeq: number): Promise<DroppingRelay> {
  const dropped: number[] = []
  const upstream = new URL(pdsUrl)
  const server = http.createServer((req, res) => {
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      const source = new WebSocket(`ws://${upstream.host}${req.url}`)
      source.on('message', (data: Buffer) => {
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        const decoded = decodeLean(bytes)
        const frame = decoded.kind === 'frame' ? decoded.frame : null
        if (frame?.seq === dropSeq) {
          if (!dropped.includes(dropSeq)) dropped.push(dropSeq)
          return
        }
        if (client.readyState === WebSocket.OPEN) client.send(data)
      })
      source.on('close', () => client.close())
      source.on('error', () => client.terminate())
      client.on('close', () => source.terminate())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropped,
    async close() {
      for (const c of wss.clients) c.terminate()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

/** The seq of the `nth` #commit of `did` in the PDS's firehose, read from its start. */
export async function nthCommitSeq(pdsUrl: string, did: string, nth: number): Promise<number> {
  const ws = new WebSocket(`${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
  let seen = 0
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no commit #${nth} of ${did} within 10 s`)), 10_000)
      ws.on('message', (data: Buffer) => {
        const decoded = decodeLean(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
        if (decoded.kind !== 'frame' || decoded.frame.seq === null) return
        if (decoded.frame.items.some((i) => i.kind === 'commit' && i.did === did) && ++seen === nth) {
          clearTimeout(timer)
          resolve(decoded.frame.seq)
        }
      })
      ws.on('error', reject)
    })
  } finally {
    ws.terminate()
  }
}
