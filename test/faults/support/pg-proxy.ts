// A TCP pass-through in front of Postgres that notes every connection attempt: when, which pool made it (the
// application_name in the startup packet), and whether Postgres took it. That is how a test sees the backfill
// retrying during an outage, and how often. While Postgres is down an attempt is answered with a TCP reset, which
// the client sees as ECONNRESET, as it would from a database behind a load balancer.
import net from 'node:net'

export type Attempt = { at: number; app: string; ok: boolean }

export type PgProxy = {
  port: number
  attempts: Attempt[]
  close(): Promise<void>
}

/** The application_name of a startup packet (length, protocol, then key\0value\0 pairs), or '?' if unreadable. */
function applicationName(packet: Buffer): string {
  if (packet.length < 8) return '?'
  const pairs = packet.subarray(8).toString('utf8').split('\0')
  const i = pairs.indexOf('application_name')
  return i >= 0 ? (pairs[i + 1] ?? '?') : '?'
}

export async function startPgProxy(upstreamPort: number): Promise<PgProxy> {
  const attempts: Attempt[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    client.once('data', (first) => {
      client.pause()
      const attempt: Attempt = { at: Date.now(), app: applicationName(first), ok: false }
      attempts.push(attempt)
      const upstream = net.connect(upstreamPort, '127.0.0.1')
      sockets.add(upstream)
      upstream.on('close', () => sockets.delete(upstream))
      upstream.once('connect', () => {
        attempt.ok = true
        upstream.write(first)
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
      upstream.on('error', () => {
        if (!attempt.ok) client.resetAndDestroy()
        else client.destroy()
      })
      // Postgres going away ends its side; what it sent last (the shutdown notice) is flushed to the client first.
      upstream.on('end', () => client.end())
      client.on('close', () => upstream.destroy())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    attempts,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
