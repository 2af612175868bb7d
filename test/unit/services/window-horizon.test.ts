// A run planned after tombstones were pruned never replays at or below the horizon: an older create replayed then
// could be one of a record whose delete's tombstone is gone. What is older comes from the repositories instead.
import { describe, expect, it } from 'vitest'
import { respectHorizon, revAt } from '../../../server/services/backfill/plan-window.js'
import type { RunMeta } from '../../../server/services/backfill/run-state.js'

const meta = (over: Partial<RunMeta>): RunMeta => ({
  relay: 'wss://relay.test',
  window: { days: 30 },
  startCursor: 100,
  headSeq: 5000,
  startedAt: '2026-12-01T00:00:00.000Z',
  requestedFrom: '2026-11-01T00:00:00.000Z',
  availableFrom: { seq: 1, time: '2026-10-01T00:00:00.000Z' },
  state: 'running',
  completedAt: null,
  repos: null,
  ...over,
})

describe('a run and the tombstone horizon', () => {
  it('replays from where the window starts when nothing at or above it was pruned', () => {
    const lines: string[] = []
    expect(respectHorizon(meta({}), null, (l) => lines.push(l))).toEqual(meta({}))
    expect(respectHorizon(meta({}), 100, (l) => lines.push(l))).toEqual(meta({}))
    expect(lines).toEqual([])
  })

  it('starts the replay after the horizon and fetches what changed since the window start from the repositories', () => {
    const lines: string[] = []
    const planned = respectHorizon(meta({}), 2000, (l) => lines.push(l))
    expect(planned).toEqual(meta({ startCursor: 2000, repos: { since: revAt(new Date('2026-11-01T00:00:00.000Z')) } }))
    expect(lines).toEqual([expect.stringContaining('the replay starts after seq 2000')])
  })

  it('keeps a run that fetches every repository whole as it is, but for where its replay starts', () => {
    const all = meta({ window: 'every-repo', requestedFrom: null, repos: { since: null } })
    expect(respectHorizon(all, 2000, () => {})).toEqual({ ...all, startCursor: 2000 })
  })

  it('fetches what changed since the oldest event the source held for a window of what it holds', () => {
    const held = meta({ window: 'all', requestedFrom: null, startCursor: 0 })
    expect(respectHorizon(held, 7000, () => {})).toEqual({
      ...held,
      startCursor: 5000,
      repos: { since: revAt(new Date('2026-10-01T00:00:00.000Z')) },
    })
  })
})
