// A source that keeps sending the same frame and falling silent is not hammered: the first stall reconnects at
// once, each further stall that brings the consumer no further waits longer (1 s, 2 s, ...).
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { WebSocketSource, type SourceEvent } from '../../../server/pipeline/source.js'

let server: WebSocketServer | null = null

afterEach(async () => {
  await new Promise((r) => server?.close(r) ?? r(null))
})

describe('stalls', () => {
  it('reconnect at once the first time, then with a growing wait while the resume point does not move', async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => server!.once('listening', r))
    // One unreadable frame per connection, then silence.
    server.on('connection', (ws) => ws.send(Buffer.from([0xff, 0x00])))
    const port = (server.address() as { port: number }).port
    const events: SourceEvent[] = []
    const source = new WebSocketSource({
      service: `ws://127.0.0.1:${port}`,
      resume: { seq: 41 },
      stallTimeoutMs: 400,
      onEvent: (e) => events.push(e),
    })
    source.start()
    const deadline = Date.now() + 15_000
    const stalls = () => events.filter((e) => e.kind === 'disconnected')
    // The consumer takes each frame (and cannot read it: the resume point stays where it is).
    while (stalls().length < 4 && Date.now() < deadline) await source.next(50)
    await source.close()
    expect(stalls().map((e) => (e.kind === 'disconnected' ? e.retryInMs : -1))).toEqual([0, 1000, 2000, 4000])
  })
})
