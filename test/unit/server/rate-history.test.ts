// The events/s history the dashboard's chart starts from: sampled at all times, the last `capacity` samples kept.
import { describe, expect, it } from 'vitest'
import { RateHistory, serviceRates } from '../../../server/services/rate-history.js'

describe('RateHistory', () => {
  it('keeps the last `capacity` samples, oldest first', () => {
    let t = 1000
    let rate = 0
    const history = new RateHistory(() => ({ backfill: rate, firehose: rate / 10, repos: rate * 2 }), { capacity: 3, now: () => t })
    for (let i = 1; i <= 5; i++) {
      t = i * 1000
      rate = i * 10
      history.sample()
    }
    expect(history.points()).toEqual([
      { at: 3000, backfill: 30, firehose: 3, repos: 60 },
      { at: 4000, backfill: 40, firehose: 4, repos: 80 },
      { at: 5000, backfill: 50, firehose: 5, repos: 100 },
    ])
  })

  it('samples once an interval by itself once started, with no one watching', async () => {
    const history = new RateHistory(() => ({ backfill: 1, firehose: 0, repos: 0 }), { intervalMs: 20 }).start()
    await new Promise((r) => setTimeout(r, 130))
    history.stop()
    const n = history.points().length
    expect(n).toBeGreaterThanOrEqual(3)
    await new Promise((r) => setTimeout(r, 60))
    expect(history.points().length).toBe(n)
  })

  it('reads the rates from the services’ public progress and status', () => {
    const read = serviceRates(
      { getProgress: () => ({ eventsPerSecond: 812.4, repos: { recordsPerSecond: 1500 } }) },
      { getStatus: () => ({ eventsPerSecond: 3.5 }) },
    )
    expect(read()).toEqual({ backfill: 812.4, firehose: 3.5, repos: 1500 })
    expect(serviceRates({ getProgress: () => ({ eventsPerSecond: 2, repos: null }) }, null)()).toEqual({ backfill: 2, firehose: 0, repos: 0 })
  })
})
