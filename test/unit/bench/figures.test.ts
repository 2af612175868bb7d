import { expect, test } from 'vitest'
import { compareInstances, limitRate, modeFigures } from '../../../bench/run/figures.js'
import type { ModeResult } from '../../../bench/run/mode.js'

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
