// The drift rate: repositories that differed of those audited, over the last 24 hours and in total.
import { describe, expect, it } from 'vitest'
import { DriftMeter } from '../../../server/audit/drift.js'
import { emptyDifferences, type RepoAudit } from '../../../server/audit/report.js'

function audited(outcome: RepoAudit['outcome'], differences: Partial<RepoAudit['differences']> = {}): RepoAudit {
  return {
    did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
    outcome,
    host: null,
    rev: null,
    fetchedAt: new Date(0).toISOString(),
    error: null,
    records: { compared: 0, matching: 0, unindexed: 0, refused: 0, changedAfterFetch: 0 },
    differences: { ...emptyDifferences(), ...differences },
    examples: { missing: [], extra: [], stale: [], handle: null, status: null },
  }
}

const HOUR = 3_600_000

describe('DriftMeter', () => {
  it('has no ratio before a repository is audited', () => {
    expect(new DriftMeter(() => 0).view()).toEqual({ last24h: { checked: 0, differing: 0, ratio: null }, total: { checked: 0, differing: 0, ratio: null } })
  })

  it('counts checked and unavailable repositories, and those that differ, with their differences by kind', () => {
    const meter = new DriftMeter(() => 0)
    meter.add(audited('checked'))
    meter.add(audited('checked', { missing: 2, stale: 1 }))
    meter.add(audited('unavailable', { status: 1 }))
    meter.add(audited('checked'))
    expect(meter.view().total).toEqual({ checked: 4, differing: 2, ratio: 0.5 })
    expect(meter.differences).toEqual({ missing: 2, extra: 0, stale: 1, handle: 0, status: 1 })
  })

  it('leaves out repositories that could not be fetched: they say nothing of drift', () => {
    const meter = new DriftMeter(() => 0)
    meter.add(audited('failed'))
    expect(meter.view().total.checked).toBe(0)
  })

  it('forgets audits older than 24 hours in the recent rate, not in the total', () => {
    let now = 0
    const meter = new DriftMeter(() => now)
    meter.add(audited('checked', { extra: 1 }))
    now = 23 * HOUR
    meter.add(audited('checked'))
    expect(meter.view().last24h).toEqual({ checked: 2, differing: 1, ratio: 0.5 })
    now = 25 * HOUR
    expect(meter.view()).toEqual({ last24h: { checked: 1, differing: 0, ratio: 0 }, total: { checked: 2, differing: 1, ratio: 0.5 } })
  })
})
