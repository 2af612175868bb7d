// Planning a big batch (validation, rows) never holds the event loop for much more than one slice: measured as the
// main thread's CPU time between two turns of a timer, which a busy machine's other processes do not stretch.
import { expect, it } from 'vitest'
import { prepareBatch } from '../../../server/indexer/prepare.js'
import { SLICE_MS } from '../../../server/lib/time-slice.js'
import { create, records } from '../../support/ops.js'

const threadCpuMs = () => {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}

it('plans a batch of 8,000 posts in turns of at most about one slice of CPU each', async () => {
  const items = Array.from({ length: 8000 }, (_, i) =>
    create({ seq: i + 1, rev: i + 1, did: `did:plc:author${i % 50}`, collection: 'app.bsky.feed.post', rkey: `3k${String(i).padStart(11, '0')}` }, records.post(`post number ${i}`)),
  )
  // The first records of a collection compile its lexicon validator: once per process, not per batch.
  await prepareBatch(items.slice(0, 10), 10)
  const perTurn: number[] = []
  let last = threadCpuMs()
  let running = true
  const mark = () => {
    const now = threadCpuMs()
    perTurn.push(now - last)
    last = now
    if (running) setTimeout(mark, 0)
  }
  setTimeout(mark, 0)
  const plan = await prepareBatch(items, 8000)
  running = false

  expect(plan.tables.map((t) => [t.module.table, t.upserts.length])).toEqual([['posts', 8000]])
  expect(plan.rejects).toEqual([])
  // The whole plan takes over a hundred ms of CPU; it was cut into many turns, most of them one slice, none near the
  // whole (a garbage collection, or the first pass over the items, may lengthen one: 38.6 ms in one CI run).
  const sorted = [...perTurn].sort((a, b) => a - b)
  const whole = perTurn.reduce((n, ms) => n + ms, 0)
  expect(perTurn.length).toBeGreaterThan(10)
  expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(SLICE_MS + 1)
  expect(sorted.at(-1)).toBeLessThan(whole / 2)
})
