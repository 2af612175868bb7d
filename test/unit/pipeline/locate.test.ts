// The window search over an in-memory history; the same functions run against a real source in the backfill
// integration tests.
import { describe, expect, it } from 'vitest'
import { findCursorAt, findHead, findOldest } from '../../../server/services/backfill/locate.js'
import type { Probe } from '../../../server/services/backfill/probe.js'

function historyProbe(events: { seq: number; time: string }[], live = false): Probe & { calls: number } {
  const head = events.length ? events[events.length - 1]!.seq : 0
  const probe = (async (cursor: number | null) => {
    probe.calls++
    if (cursor === null) return live && events.length ? { kind: 'event', ...events[events.length - 1]!, outdated: false } : { kind: 'empty' }
    if (cursor > head) return { kind: 'future' }
    const next = events.find((e) => e.seq > cursor)
    return next ? { kind: 'event', ...next, outdated: false } : { kind: 'empty' }
  }) as Probe & { calls: number }
  probe.calls = 0
  return probe
}

const hour = 3_600_000
const t0 = Date.UTC(2026, 10, 1)
// seqs with holes, one event every 6 minutes over 10 days
const events = Array.from({ length: 2400 }, (_, i) => ({ seq: 1000 + i * 3, time: new Date(t0 + i * hour / 10).toISOString() }))

describe('locating the window', () => {
  it('finds the head of a quiet source by FutureCursor search in a few dozen probes', async () => {
    const probe = historyProbe(events)
    expect(await findHead(probe)).toBe(events[events.length - 1]!.seq)
    expect(probe.calls).toBeLessThan(40)
  })

  it('takes the head of a live source from its first event', async () => {
    const probe = historyProbe(events, true)
    expect(await findHead(probe)).toBe(events[events.length - 1]!.seq)
    expect(probe.calls).toBe(1)
  })

  it('finds the cursor after which every event is at or after the cutoff', async () => {
    const probe = historyProbe(events)
    const oldest = (await findOldest(probe))!
    const cutoff = new Date(t0 + 72 * hour + 1)
    const cursor = await findCursorAt(probe, cutoff, oldest, events[events.length - 1]!.seq)
    const first = events.find((e) => e.seq > cursor)!
    expect(Date.parse(first.time)).toBeGreaterThanOrEqual(cutoff.getTime())
    expect(events.filter((e) => e.seq <= cursor).every((e) => Date.parse(e.time) < cutoff.getTime())).toBe(true)
    expect(probe.calls).toBeLessThan(30)
  })

  it('returns the head when the cutoff is after every event', async () => {
    const probe = historyProbe(events)
    const oldest = (await findOldest(probe))!
    const head = events[events.length - 1]!.seq
    expect(await findCursorAt(probe, new Date(t0 + 365 * 24 * hour), oldest, head)).toBe(head)
  })
})
