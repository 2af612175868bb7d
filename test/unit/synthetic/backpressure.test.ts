import { afterEach, expect, test } from 'vitest'
import { encodeMessageFrame } from '../../../bench/source/frames.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../../bench/source/server.js'
import type { FrameStore, StoredFrame } from '../../../bench/source/store.js'
import { eventually, type RawSubscription, subscribe } from './helpers.js'

// Big frames make the bound visible past the kernel's socket buffers (a few MB on loopback).
const FILLER = encodeMessageFrame('#info', { name: 'Filler', message: 'x'.repeat(256 * 1024) })
const FRAMES = 1000

let server: SyntheticFirehose | undefined
afterEach(() => server?.close())

/** A store that counts how far the server has read into it. */
function countingStore(): FrameStore & { read: number } {
  const store = {
    headSeq: FRAMES,
    read: 0,
    async *frames(afterSeq: number): AsyncGenerator<StoredFrame> {
      for (let seq = afterSeq + 1; seq <= FRAMES; seq++) {
        store.read++
        yield { seq, bytes: FILLER }
      }
    },
  }
  return store
}

async function pausedAfterFirstFrame(url: string): Promise<RawSubscription> {
  const sub = subscribe(url, 0)
  sub.ws.once('message', () => sub.ws.pause())
  await sub.received(1)
  // Long enough for the server to fill every buffer between it and the paused reader.
  await new Promise((resolve) => setTimeout(resolve, 500))
  return sub
}

test('a consumer that pauses its socket stops the server from sending more than a bounded number of frames', async () => {
  server = await startSyntheticFirehose({ store: countingStore() })
  const sub = await pausedAfterFirstFrame(server.url)
  const stalledAt = server.stats().framesSent
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(server.stats().framesSent).toBe(stalledAt)
  expect(stalledAt).toBeLessThan(100)
  sub.ws.close()
})

test('a paused consumer stops the server from reading further into the store than it has sent', async () => {
  const store = countingStore()
  server = await startSyntheticFirehose({ store })
  const sub = await pausedAfterFirstFrame(server.url)
  expect(store.read).toBeLessThanOrEqual(server.stats().framesSent + 1)
  expect(store.read).toBeLessThan(100)
  sub.ws.close()
})

test('a paused consumer that resumes receives every remaining frame', async () => {
  server = await startSyntheticFirehose({ store: countingStore() })
  const sub = await pausedAfterFirstFrame(server.url)
  sub.ws.resume()
  await eventually(() => sub.frames.length === FRAMES)
  expect(server.stats().framesSent).toBe(FRAMES)
  sub.ws.close()
})
