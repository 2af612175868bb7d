// A host's limits divided among the live instances: the rates add up to the configured rate, the permits in flight
// to the configured concurrency (never below one each), and the limiter uses its share from setShare on.
import { describe, expect, it, vi } from 'vitest'
import { shareOf } from '../../../server/net/limit-share.js'
import { PerHostLimiter } from '../../../server/net/host-limiter.js'

describe('shareOf', () => {
  it('divides the rate evenly and deals the permits out by rank, adding up to the configured limits', () => {
    for (const concurrency of [1, 2, 3, 5, 8]) {
      for (let live = 1; live <= concurrency; live++) {
        const shares = Array.from({ length: live }, (_, rank) => shareOf({ concurrency, ratePerSecond: 4 }, rank, live))
        expect(shares.reduce((n, s) => n + s.concurrency, 0), `${concurrency} among ${live}`).toBe(concurrency)
        expect(shares.reduce((n, s) => n + s.ratePerSecond, 0)).toBeCloseTo(4, 10)
        expect(shares.every((s) => s.concurrency >= 1)).toBe(true)
      }
    }
    expect(shareOf({ concurrency: 5, ratePerSecond: 6 }, 0, 2)).toEqual({ concurrency: 3, ratePerSecond: 3 })
    expect(shareOf({ concurrency: 5, ratePerSecond: 6 }, 1, 2)).toEqual({ concurrency: 2, ratePerSecond: 3 })
  })

  it('keeps one permit per instance when there are fewer permits than live instances', () => {
    const shares = [0, 1, 2].map((rank) => shareOf({ concurrency: 2, ratePerSecond: 3 }, rank, 3))
    expect(shares).toEqual([
      { concurrency: 1, ratePerSecond: 1 },
      { concurrency: 1, ratePerSecond: 1 },
      { concurrency: 1, ratePerSecond: 1 },
    ])
  })

  it('refuses a rank outside the live instances', () => {
    expect(() => shareOf({ concurrency: 2, ratePerSecond: 3 }, 2, 2)).toThrow(/rank must be an integer from 0 to 1, got 2/)
    expect(() => shareOf({ concurrency: 2, ratePerSecond: 3 }, 0, 0)).toThrow(/live instances must be an integer ≥ 1, got 0/)
  })
})

describe('PerHostLimiter.setShare', () => {
  it('uses its share of every host limit, per-host ones included, and grants waiting requests under it', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 })
    try {
      const limiter = new PerHostLimiter({
        defaults: { concurrency: 4, ratePerSecond: 8 },
        perHost: { 'plc.example': { ratePerSecond: 3 } },
        now: () => Date.now(),
      })
      expect(limiter.limitsFor('pds.example')).toEqual({ concurrency: 4, ratePerSecond: 8 })
      limiter.setShare(1, 2)
      expect(limiter.limitsFor('pds.example')).toEqual({ concurrency: 2, ratePerSecond: 4 })
      expect(limiter.limitsFor('PLC.example')).toEqual({ concurrency: 2, ratePerSecond: 1.5 })

      // Two permits held (its share); a third waits until the instance is alone again.
      const held = [await limiter.acquire('pds.example'), await limiter.acquire('pds.example')]
      let third = false
      const waiting = limiter.acquire('pds.example').then((p) => {
        third = true
        return p
      })
      await vi.advanceTimersByTimeAsync(1000)
      expect(third).toBe(false)
      limiter.setShare(0, 1)
      await vi.advanceTimersByTimeAsync(0)
      expect(third).toBe(true)
      for (const p of [...held, await waiting]) p.release({ status: 200, headers: {} })
    } finally {
      vi.useRealTimers()
    }
  })
})
