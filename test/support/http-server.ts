// A local HTTP server on 127.0.0.1 whose routes a test writes, for the faults no real part shows on demand
// (stalled bodies, redirect loops, hosts that never answer).
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void

export type TestHttpServer = {
  /** http://127.0.0.1:port */
  url: string
  port: number
  /** Replaces or adds the handler for one path (query string ignored). */
  route(path: string, handler: Route): void
  /** Paths requested so far, in order. */
  requests: string[]
  close(): Promise<void>
}

export async function startHttpServer(routes: Record<string, Route> = {}): Promise<TestHttpServer> {
  const table = new Map(Object.entries(routes))
  const requests: string[] = []
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    requests.push(path)
    const handler = table.get(path)
    if (handler) return handler(req, res)
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route ${path}`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    route: (path, handler) => void table.set(path, handler),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
