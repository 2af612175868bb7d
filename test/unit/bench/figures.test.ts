import { expect, test } from 'vitest'
import { compareInstances, fractionOfLean, limitRate, modeFigures } from '../../../bench/run/figures.js'
import type { ModeResult } from '../../../bench/run/mode.js'
import { evaluateTargets, summarise } from '../../../bench/run/report.js'

function modeResult(mode: ModeResult['mode'], eventsPerSecond: number, extra: Partial<ModeResult> = {}): ModeResult {
  return {
    mode,
    window: { eventsPerSecond, recordsPerSecond: eventsPerSecond * 2, eventsPerCpuSecond: 5000 },
    memory: { vmHwmMb: 250.5 },
    api: [
      { name: 'GET /api/stats', p99Ms: 12.5 },
      { name: 'getProfile', p99Ms: 30 },
    ],
    wholeRun: null,
    ...extra,
  } as unknown as ModeResult
}

test('the limit is the rate of decoding and writing one after the other', () => {
  // 1/3000 s to decode and 1/2000 s to write an event: 1/1200 s in all.
  expect(limitRate(3000, 2000)).toBeCloseTo(1200, 9)
  expect(limitRate(1000, 1000)).toBeCloseTo(500, 9)
})

test('the limit refuses a rate that was not measured', () => {
  expect(() => limitRate(0, 2000)).toThrow(/d=0 w=2000/)
})

test("a mode's figures name its rates, its fraction of the limit and its p99 per endpoint", () => {
  const f = modeFigures(modeResult('max', 900), { eventsPerSecond: 1200 }, null)
  expect(f).toEqual({
    instances: 1,
    eventsPerSecond: 900,
    recordsPerSecond: 1800,
    fractionOfLimit: 0.75,
    eventsPerCpuSecond: 5000,
    peakRssMb: 250.5,
    apiP99Ms: { 'GET /api/stats': 12.5, getProfile: 30 },
    wholeRunEventsPerSecond: null,
    peerRatio: null,
  })
})

test('without a limit or a peer their ratios are null; with a peer the ratio is to its events/s', () => {
  expect(modeFigures(modeResult('max', 900), null, null).fractionOfLimit).toBeNull()
  expect(modeFigures(modeResult('max', 900), null, { eventsPerSecond: 20, recordsPerSecond: null, events: 5000 }).peerRatio).toBe(45)
})

test('idle has no rate, and so no fraction of the limit', () => {
  const f = modeFigures(modeResult('idle', 0), { eventsPerSecond: 1200 }, null)
  expect([f.eventsPerSecond, f.recordsPerSecond, f.fractionOfLimit]).toEqual([null, null, null])
})

test('two instances are compared with one by their events/s together', () => {
  const one = modeFigures(modeResult('max', 1000), null, null)
  const two = modeFigures(modeResult('max-x2', 1100, { instances: 2 }), null, null)
  expect(two.instances).toBe(2)
  expect(compareInstances(one, two)).toEqual({ oneEventsPerSecond: 1000, twoEventsPerSecond: 1100, ratio: 1.1 })
  expect(compareInstances(one, undefined)).toBeNull()
})

test("the verified decoder's figure is its events/s over the lean one's, at the same profile in the same run", () => {
  const lean = modeFigures(modeResult('max', 8000), null, null)
  const verified = modeFigures(modeResult('max-verified', 2400), null, null)
  expect(fractionOfLean(verified, lean)).toBe(0.3)
  expect(fractionOfLean(verified, undefined)).toBeNull()
})

test("a run with max and max-verified carries max-verified's fraction of lean, and meets the target from 25% on", () => {
  const targetOf = (verifiedRate: number) => {
    const cpu = { serverCpuPercent: 100, serverMainThreadCpuPercent: 90, machineCpuPercent: 180 }
    const window = (eventsPerSecond: number) => ({ window: { eventsPerSecond, eventsPerCpuSecond: 5000, cpu } }) as unknown as Partial<ModeResult>
    const modes = { max: modeResult('max', 8000, window(8000)), 'max-verified': modeResult('max-verified', verifiedRate, window(verifiedRate)) }
    const { figures, instances } = summarise(modes, null, null)
    const target = evaluateTargets({ modes, limit: null, peer: null, figures, instances }, 2).find((t) => t.id === 'verified-fraction-of-lean')!
    return { fraction: figures['max-verified']!.fractionOfLean, met: target.met, actual: target.actual }
  }
  expect(targetOf(2000)).toEqual({ fraction: 0.25, met: true, actual: "2,000 events/s (max-verified, BACKFILL_DECODER=verified) = 25.0% of max's 8,000 (lean)" })
  expect(targetOf(1990).met).toBe(false)
})

test('without max in the run the verified target is not measured', () => {
  const modes = { 'max-verified': modeResult('max-verified', 2000) }
  const { figures, instances } = summarise(modes, null, null)
  expect(figures['max-verified']!.fractionOfLean).toBeNull()
  expect(evaluateTargets({ modes, limit: null, peer: null, figures, instances }, 2).find((t) => t.id === 'verified-fraction-of-lean')).toMatchObject({ met: null, actual: 'max not run' })
})
