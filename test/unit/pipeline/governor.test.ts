import { describe, expect, it } from 'vitest'
import { governorStep, type GovernorKnobs } from '../../../server/pipeline/governor.js'
import { ScheduledThrottle } from '../../../server/pipeline/create-throttle.js'
import { StaticThrottle } from '../../../server/pipeline/throttle.js'
import { PROFILES } from '../../../server/config/profiles.js'
import { parseSchedule } from '../../../server/config/schedule.js'

const budget = { maxCpuPercent: 15, maxLagMs: 20 }

describe('the adaptive governor', () => {
  it('lengthens the pause in proportion to a CPU overshoot', () => {
    // (lag above half its budget: no batch growth mixed in)
    expect(governorStep({ batchSize: 100, batchDelayMs: 100 }, { cpuPercent: 30, loopDelayP99Ms: 15 }, budget)).toEqual({ batchSize: 100, batchDelayMs: 205 })
  })

  it('shortens the pause when under budget, and grows batches once there is no pause left', () => {
    expect(governorStep({ batchSize: 100, batchDelayMs: 100 }, { cpuPercent: 7.5, loopDelayP99Ms: 15 }, budget)).toEqual({ batchSize: 100, batchDelayMs: 50 })
    expect(governorStep({ batchSize: 100, batchDelayMs: 0 }, { cpuPercent: 5, loopDelayP99Ms: 15 }, budget)).toEqual({ batchSize: 125, batchDelayMs: 0 })
  })

  it('holds still inside the CPU band when the loop has no lag to spare', () => {
    const knobs = { batchSize: 100, batchDelayMs: 100 }
    expect(governorStep(knobs, { cpuPercent: 14.5, loopDelayP99Ms: 15 }, budget)).toEqual(knobs)
  })

  it('trades even a short pause for a bigger batch while the loop has lag to spare', () => {
    expect(governorStep({ batchSize: 100, batchDelayMs: 100 }, { cpuPercent: 14.5, loopDelayP99Ms: 2 }, budget)).toEqual({ batchSize: 125, batchDelayMs: 125 })
  })

  it('cuts batch size when event-loop delay is over budget, whatever the CPU', () => {
    const next = governorStep({ batchSize: 1000, batchDelayMs: 0 }, { cpuPercent: 1, loopDelayP99Ms: 45 }, budget)
    expect(next.batchSize).toBe(700)
    expect(next.batchDelayMs).toBe(5)
  })

  it('trades long pauses for bigger batches at the same rate', () => {
    const next = governorStep({ batchSize: 50, batchDelayMs: 1000 }, { cpuPercent: 14.5, loopDelayP99Ms: 2 }, budget)
    expect(next).toEqual({ batchSize: 63, batchDelayMs: 1250 })
  })

  it('settles near the CPU budget against a simulated cost model', () => {
    // each event costs 0.2 ms of CPU plus 2 ms per batch; the governor sees the resulting CPU share
    let knobs: GovernorKnobs = { batchSize: 50, batchDelayMs: 500 }
    let cpu = 0
    for (let i = 0; i < 200; i++) {
      const workMs = knobs.batchSize * 0.2 + 2
      cpu = (workMs / (workMs + knobs.batchDelayMs)) * 100
      knobs = governorStep(knobs, { cpuPercent: cpu, loopDelayP99Ms: workMs / 4 }, budget)
    }
    expect(cpu).toBeGreaterThan(15 * 0.85)
    expect(cpu).toBeLessThan(15 * 1.1)
    const rate = (knobs.batchSize / (knobs.batchSize * 0.2 + 2 + knobs.batchDelayMs)) * 1000
    expect(rate).toBeGreaterThan(500)
  })
})

describe('the schedule', () => {
  it('switches profile when the local time enters another range, and says so once', () => {
    let now = new Date(2026, 10, 30, 21, 59)
    const lines: string[] = []
    const t = new ScheduledThrottle(
      parseSchedule('22:00-06:00=fast,*=background'),
      (p) => new StaticThrottle(PROFILES[p], p),
      (l) => lines.push(l),
      () => now,
    )
    expect(t.current().batchSize).toBe(5)
    now = new Date(2026, 10, 30, 22, 0)
    expect(t.current().batchSize).toBe(50)
    expect(t.current().batchSize).toBe(50)
    expect(lines).toEqual(['Schedule: switching from background to fast'])
  })
})
