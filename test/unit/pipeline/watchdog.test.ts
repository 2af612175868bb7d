import { describe, expect, it } from 'vitest'
import { IntakeGate } from '../../../server/pipeline/gate.js'
import { MemoryWatchdog, SAMPLE_EVERY_MS, memoryDecision, pauseAboveMb } from '../../../server/pipeline/watchdog.js'

describe('the memory watchdog', () => {
  it('continues within the limit and waits 5 s, then 10 s, then 10 s at a time above it', () => {
    expect(memoryDecision(512, 512, 0)).toEqual({ action: 'continue' })
    expect(memoryDecision(513, 512, 0)).toEqual({ action: 'wait', waitMs: 5000 })
    expect(memoryDecision(600, 512, 1)).toEqual({ action: 'wait', waitMs: 10000 })
    expect(memoryDecision(600, 512, 5)).toEqual({ action: 'wait', waitMs: 10000 })
  })

  it('holds intake until memory recovers, logging the pause, the backoff and the recovery once each', async () => {
    const readings = [700, 650, 600, 400]
    const waits: number[] = []
    const lines: string[] = []
    const gate = new IntakeGate()
    const states: boolean[] = []
    const w = new MemoryWatchdog({
      limitMb: () => 512,
      log: (l) => lines.push(l),
      measureMb: () => readings.shift()!,
      sleep: async (ms) => {
        waits.push(ms)
        states.push(!gate.isOpen)
      },
      gate,
    })
    await w.check()
    states.push(!gate.isOpen)
    expect(waits).toEqual([5000, 10000, 10000])
    expect(states).toEqual([true, true, true, false])
    expect(lines).toEqual([
      'Memory: 700 MB / 512 MB limit, pausing intake',
      'Memory still high: 650 MB / 512 MB limit, waiting 10 s more',
      'Memory still high: 600 MB / 512 MB limit, waiting 10 s more',
      'Memory recovered: 400 MB / 512 MB limit, resuming intake',
    ])
  })

  it('reads memory once per sampling interval while within the limit, and again as soon as the interval is over', async () => {
    let clock = 0
    let readings = 0
    const w = new MemoryWatchdog({
      limitMb: () => 512,
      log: () => {},
      measureMb: () => {
        readings++
        return 300
      },
      now: () => clock,
      gate: new IntakeGate(),
    })
    for (let i = 0; i < 10; i++) await w.check()
    expect(readings).toBe(1)
    clock = SAMPLE_EVERY_MS - 1
    await w.check()
    expect(readings).toBe(1)
    clock = SAMPLE_EVERY_MS
    await w.check()
    expect(readings).toBe(2)
  })

  it('reads memory at every check while above the limit', async () => {
    const readings = [700, 400, 700, 400]
    const waits: number[] = []
    const w = new MemoryWatchdog({
      limitMb: () => 512,
      log: () => {},
      measureMb: () => readings.shift()!,
      sleep: async (ms) => void waits.push(ms),
      now: () => 0,
      gate: new IntakeGate(),
    })
    await w.check()
    expect(readings).toEqual([700, 400])
    expect(waits).toEqual([5000])
  })

  it('pauses at 90% of V8\'s heap limit when BACKFILL_MAX_MEMORY_MB is above it, and at the setting otherwise', () => {
    expect(pauseAboveMb(2048, 1072)).toBe(964)
    expect(pauseAboveMb(1024, 1072)).toBe(964)
    expect(pauseAboveMb(512, 1072)).toBe(512)
  })

  it('holds intake above 90% of the heap limit even when the configured limit is far higher', async () => {
    const lines: string[] = []
    const gate = new IntakeGate()
    const readings = [950, 800]
    const w = new MemoryWatchdog({
      limitMb: () => 2048,
      heapLimitMb: 1000,
      log: (l) => lines.push(l),
      measureMb: () => readings.shift()!,
      sleep: async () => {},
      gate,
    })
    await w.check()
    expect(lines).toEqual(['Memory: 950 MB / 900 MB limit, pausing intake', 'Memory recovered: 800 MB / 900 MB limit, resuming intake'])
  })

})
