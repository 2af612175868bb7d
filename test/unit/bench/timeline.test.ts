import { expect, test } from 'vitest'
import { timelineFrom } from '../../../bench/run/timeline.js'

test('rates are the differences between consecutive samples over their interval', () => {
  const t = timelineFrom(
    [
      { t: 1, processed: 0, cpuSeconds: 10, rssMb: 100 },
      { t: 2, processed: 500, cpuSeconds: 10.5, rssMb: 120 },
      // a late sample: two seconds, so half the rate it would seem
      { t: 4, processed: 1500, cpuSeconds: 11.5, rssMb: 130.04 },
    ],
    1000,
    { from: 1.5, to: 3.5 },
  )
  expect(t).toEqual({
    everyMs: 1000,
    t: [2, 4],
    eventsPerSecond: [500, 500],
    serverCpuPercent: [50, 50],
    rssMb: [120, 130],
    window: { from: 1.5, to: 3.5 },
  })
})

test('a counter that goes back (a restarted count) is not a negative rate', () => {
  const t = timelineFrom(
    [
      { t: 0, processed: 100, cpuSeconds: 1, rssMb: 1 },
      { t: 1, processed: 40, cpuSeconds: 1, rssMb: 1 },
    ],
    1000,
    null,
  )
  expect(t.eventsPerSecond).toEqual([0])
})
