import { afterAll, beforeAll, expect, test } from 'vitest'
import { encodeMessageFrame } from '../../../bench/source/frames.js'
import { type GeneratedFrame, generateFrames } from '../../../bench/source/generator.js'
import { type FaultOptions, startSyntheticFirehose, type SyntheticFirehose } from '../../../bench/source/server.js'
import { subscribe } from './helpers.js'

let frames: GeneratedFrame[]
const servers: SyntheticFirehose[] = []

beforeAll(async () => {
  frames = await generateFrames({ seed: 'synthetic-faults', accounts: 3, events: 40, workers: 0 })
})

afterAll(() => Promise.all(servers.map((s) => s.close())))

async function serve(faults: FaultOptions): Promise<SyntheticFirehose> {
  const server = await startSyntheticFirehose({ frames, faults })
  servers.push(server)
  return server
}

const seqs = (sub: { frames: { body: Record<string, unknown> }[] }) => sub.frames.map((f) => f.body.seq)

test('closeAfterFrames closes the connection cleanly with code 1000 after K frames', async () => {
  const sub = subscribe((await serve({ closeAfterFrames: 7 })).url, 0)
  expect(await sub.closed).toBe(1000)
  expect(seqs(sub)).toEqual([1, 2, 3, 4, 5, 6, 7])
})

test('dropAfterFrames resets the TCP connection without a close frame after K frames', async () => {
  const sub = subscribe((await serve({ dropAfterFrames: 5 })).url, 10)
  expect(await sub.closed).toBe(1006)
  expect(seqs(sub)).toEqual([11, 12, 13, 14, 15])
})

test('stallAfterFrames sends nothing more after K frames but keeps the connection open', async () => {
  const sub = subscribe((await serve({ stallAfterFrames: 3 })).url, 0)
  await sub.received(3)
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(seqs(sub)).toEqual([1, 2, 3])
  expect(sub.ws.readyState).toBe(sub.ws.OPEN)
  sub.ws.close()
})

test('inject sends the given bytes as a frame right after the frame with seq afterSeq', async () => {
  const injected = encodeMessageFrame('#info', { name: 'Injected' })
  const sub = subscribe((await serve({ inject: [{ afterSeq: 12, bytes: injected }] })).url, 10)
  const received = await sub.received(5)
  expect(received.map((f) => f.body.seq ?? f.body.name)).toEqual([11, 12, 'Injected', 13, 14])
  expect(Buffer.from(received[2].bytes)).toEqual(Buffer.from(injected))
  sub.ws.close()
})

test('faults apply only to the first `connections` connections, so a reconnecting consumer gets everything', async () => {
  const server = await serve({ closeAfterFrames: 2, connections: 1 })
  const first = subscribe(server.url, 0)
  await first.closed
  const second = subscribe(server.url, 2)
  await second.received(38)
  expect([...seqs(first), ...seqs(second)]).toEqual(frames.map((f) => f.seq))
  expect(server.stats().cursors).toEqual([0, 2])
  second.ws.close()
})
