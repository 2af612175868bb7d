import { expect, test } from 'vitest'
import { axis, niceCeiling, polylinePoints, timelineSvg } from '../../../bench/run/svg.js'

test('points map x from the left edge and y from the bottom of the box', () => {
  const box = { x: 10, y: 20, width: 100, height: 50 }
  expect(polylinePoints([0, 5, 10], [0, 50, 100], box, 10, 100)).toBe('10,70 60,45 110,20')
})

test('a value above the axis is drawn at its top', () => {
  expect(polylinePoints([1], [300], { x: 0, y: 0, width: 10, height: 10 }, 1, 100)).toBe('10,0')
})

test('points refuse columns of different lengths', () => {
  expect(() => polylinePoints([1, 2], [1], { x: 0, y: 0, width: 1, height: 1 }, 1, 1)).toThrow(/2 x values but 1 y values/)
})

test('axes end on a round number at or above the largest value', () => {
  expect([0, 0.7, 1, 3, 7, 12, 180, 240, 1300, 8990].map(niceCeiling)).toEqual([1, 1, 1, 5, 10, 20, 200, 250, 2000, 10000])
})

test('an axis ends at the first multiple of a round step at or above the largest value', () => {
  expect([130, 1714, 347, 32.4, 4, 0].map(axis)).toEqual([
    { max: 150, step: 50 },
    { max: 2000, step: 500 },
    { max: 400, step: 100 },
    { max: 40, step: 10 },
    { max: 4, step: 1 },
    { max: 1, step: 1 },
  ])
})

test('a timeline is drawn as three polylines, events/s, CPU and RSS, with the window shaded', () => {
  const svg = timelineSvg('max', {
    everyMs: 1000,
    t: [1, 2, 3, 4],
    eventsPerSecond: [0, 1000, 2000, 1000],
    serverCpuPercent: [10, 80, 90, 50],
    rssMb: [150, 200, 210, 210],
    window: { from: 2, to: 3 },
  })
  const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => m[1])
  expect(lines).toHaveLength(3)
  // x axis to 4 s over 572 px from x=56; the events panel (top 26, 80 high) scaled to 2000
  expect(lines[0]).toBe('199,106 342,66 485,26 628,66')
  expect(svg).toContain('events/s: peak 2000, last 1000')
  expect(svg).toContain('RSS (MB): peak 210, last 210')
  const windows = [...svg.matchAll(/<rect class="window" x="([\d.]+)" y="\d+" width="([\d.]+)"/g)].map((m) => [m[1], m[2]])
  expect(windows).toEqual([
    ['342', '143'],
    ['342', '143'],
    ['342', '143'],
  ])
})
