import { expect, test } from 'vitest'
import type { Progress } from '../../../bench/run/measure.js'
import { combineProgress } from '../../../bench/run/mode.js'

const progress = (state: string, processed: number, upserted: number, error: string | null = null): Progress =>
  ({
    state,
    counts: { received: processed, processed, skipped: 0, invalid: 0, upserted, deleted: 1 },
    eventsPerSecond: processed / 10,
    error,
  }) as Progress

test("two instances' progress is their counts and rates summed", () => {
  const p = combineProgress([progress('running', 300, 20), progress('running', 200, 10)])
  expect(p.counts).toEqual({ received: 500, processed: 500, skipped: 0, invalid: 0, upserted: 30, deleted: 2 })
  expect(p.eventsPerSecond).toBe(50)
})

test('the pair is complete only when both are, and failed when either is', () => {
  expect(combineProgress([progress('complete', 1, 0), progress('running', 1, 0)]).state).toBe('running')
  expect(combineProgress([progress('complete', 1, 0), progress('complete', 1, 0)]).state).toBe('complete')
  const failed = combineProgress([progress('running', 1, 0), progress('failed', 1, 0, 'database gone')])
  expect([failed.state, failed.error]).toEqual(['failed', 'database gone'])
})
