import { describe, expect, it } from 'vitest'
import { Semaphore } from '../../../server/pipeline/semaphore.js'

describe('the semaphore', () => {
  it('never lets more than its limit run at once', async () => {
    const s = new Semaphore(2)
    let running = 0
    let peak = 0
    await Promise.all(
      Array.from({ length: 10 }, () =>
        s.run(async () => {
          running++
          peak = Math.max(peak, running)
          await new Promise((r) => setTimeout(r, 5))
          running--
        }),
      ),
    )
    expect(peak).toBe(2)
    expect(s.highWater).toBe(2)
    expect(s.active).toBe(0)
  })

  it('applies a lowered limit as permits come back', async () => {
    let limit = 3
    const s = new Semaphore(() => limit)
    await s.acquire()
    await s.acquire()
    limit = 1
    let got = false
    const waiting = s.acquire().then(() => (got = true))
    s.release()
    await new Promise((r) => setTimeout(r, 5))
    expect(got).toBe(false)
    s.release()
    await waiting
    expect(got).toBe(true)
    expect(s.active).toBe(1)
  })
})
