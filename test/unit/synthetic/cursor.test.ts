import { afterAll, beforeAll, expect, test } from 'vitest'
import { generateFrames } from '../../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../../bench/source/server.js'
import { subscribe } from './helpers.js'

let server: SyntheticFirehose
let retained: SyntheticFirehose

beforeAll(async () => {
  const frames = await generateFrames({ seed: 'synthetic-cursor', accounts: 4, events: 60, workers: 0 })
  server = await startSyntheticFirehose({ frames })
  retained = await startSyntheticFirehose({ frames, oldestSeq: 40 })
})

afterAll(async () => {
  await server?.close()
  await retained?.close()
})

test('a subscriber resuming from cursor N receives seq N+1 first and then every later frame in order', async () => {
  const sub = subscribe(server.url, 25)
  const frames = await sub.received(35)
  expect(frames.map((f) => f.body.seq)).toEqual(Array.from({ length: 35 }, (_, i) => 26 + i))
  sub.ws.close()
})

test('a subscriber from cursor 0 receives the whole workload and the connection stays open afterwards', async () => {
  const sub = subscribe(server.url, 0)
  await sub.received(60)
  await new Promise((resolve) => setTimeout(resolve, 200))
  expect(sub.frames).toHaveLength(60)
  expect(sub.ws.readyState).toBe(sub.ws.OPEN)
  sub.ws.close()
})

test('a subscriber without a cursor receives nothing and stays connected, as on a quiet PDS', async () => {
  const sub = subscribe(server.url)
  await new Promise((resolve) => sub.ws.once('open', resolve))
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(sub.frames).toEqual([])
  expect(sub.ws.readyState).toBe(sub.ws.OPEN)
  sub.ws.close()
})

test('a cursor beyond the head gets a FutureCursor error frame, then a policy close', async () => {
  const sub = subscribe(server.url, 61)
  const code = await sub.closed
  expect(sub.frames.map((f) => [f.header, f.body])).toEqual([[{ op: -1 }, { error: 'FutureCursor', message: 'Cursor in the future.' }]])
  expect(code).toBe(1008)
})

test('a malformed cursor gets an InvalidRequest error frame, then a policy close', async () => {
  const sub = subscribe(server.url, 'abc')
  const code = await sub.closed
  expect(sub.frames.map((f) => [f.header, f.body])).toEqual([[{ op: -1 }, { error: 'InvalidRequest', message: 'Invalid cursor: abc' }]])
  expect(code).toBe(1008)
})

test('a cursor equal to the head gets no frames and no error', async () => {
  const sub = subscribe(server.url, 60)
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(sub.frames).toEqual([])
  expect(sub.ws.readyState).toBe(sub.ws.OPEN)
  sub.ws.close()
})

test('a cursor older than the retained history gets an OutdatedCursor info frame, then frames from oldestSeq', async () => {
  const sub = subscribe(retained.url, 10)
  const [info, first, ...rest] = await sub.received(22)
  expect([info.header, info.body]).toEqual([
    { op: 1, t: '#info' },
    { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit. Possibly missing events' },
  ])
  expect(first.body.seq).toBe(40)
  expect(rest.map((f) => f.body.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 41 + i))
  sub.ws.close()
})

test('a cursor just before oldestSeq resumes without an OutdatedCursor info frame', async () => {
  const sub = subscribe(retained.url, 39)
  const [first] = await sub.received(1)
  expect(first.header).toEqual({ op: 1, t: sub.frames[0].header.t })
  expect(first.body.seq).toBe(40)
  sub.ws.close()
})
