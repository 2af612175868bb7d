// Stopping the server as `docker stop`, systemd or Ctrl-C do, while the relay accepts connections but never answers
// (the backfill is locating the window, the live firehose is connecting): it exits within a few seconds with a final
// `[SERVER] stopped` line, and leaves no embedded Postgres behind; a second signal exits at once.
import { readdirSync, readFileSync } from 'node:fs'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../harness/postgres.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'

let blackhole: net.Server
const sockets = new Set<net.Socket>()
let root: string

beforeAll(async () => {
  // Accepts TCP and never answers the websocket upgrade.
  blackhole = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve))
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-stop-'))
  await fs.chmod(root, 0o755)
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  blackhole?.close()
  await fs.rm(root, { recursive: true, force: true })
})

/** Pids of processes whose command line names `dataDir` (the postmaster is started with -D <dataDir>). */
function postgresUsing(dataDir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (cmdline.includes(dataDir) && cmdline.some((a) => a.endsWith('/postgres'))) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

async function locatingServer(name: string): Promise<{ server: ServerProcess; dataDir: string }> {
  const dataDir = path.join(root, name)
  const { port } = blackhole.address() as net.AddressInfo
  const server = spawnServer({
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    PG_PORT: String(await freePort()),
    PG_DATA_DIR: dataDir,
    RELAY_URL: `ws://127.0.0.1:${port}`,
    BACKFILL_DAYS: '1',
  })
  await server.waitForLine(/\[SERVER\] listening on/, 60_000)
  expect(postgresUsing(dataDir).length).toBeGreaterThan(0)
  // Now locating: its probes are waiting on the relay, and so is the firehose.
  await new Promise((r) => setTimeout(r, 1500))
  return { server, dataDir }
}

async function gone(dataDir: string, withinMs: number): Promise<number[]> {
  const deadline = Date.now() + withinMs
  while (postgresUsing(dataDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  return postgresUsing(dataDir)
}

describe('stopping while the relay never answers', () => {
  it('SIGTERM: exits within 5 s, says [SERVER] stopped last, and stops the embedded Postgres', async () => {
    const { server, dataDir } = await locatingServer('term')
    const signalledAt = Date.now()
    server.kill('SIGTERM')
    const { code } = await server.exited
    const tookMs = Date.now() - signalledAt
    expect(tookMs, server.lines.join('\n')).toBeLessThan(5000)
    expect(server.lines.filter((l) => l.trim()).at(-1)).toBe('[SERVER] stopped')
    expect(await gone(dataDir, 3000), server.lines.join('\n')).toEqual([])
    // The services stopped by themselves, in-flight work finished, before the deadline forced the exit.
    expect(server.lines.filter((l) => l.includes('exiting anyway'))).toEqual([])
    expect(code).toBe(0)
  })

  it('a second signal, after the first was given a moment, exits at once and still stops Postgres', async () => {
    const { server, dataDir } = await locatingServer('twice')
    server.kill('SIGINT')
    await new Promise((r) => setTimeout(r, 1100))
    const secondAt = Date.now()
    server.kill('SIGINT')
    await server.exited
    expect(Date.now() - secondAt, server.lines.join('\n')).toBeLessThan(1500)
    expect(server.lines.filter((l) => l.trim()).at(-1)).toBe('[SERVER] stopped')
    expect(await gone(dataDir, 3000)).toEqual([])
  })
})
