// The process's work loops share one slice per turn of the event loop, and take their turns in order.
import { describe, expect, it } from 'vitest'
import { SLICE_MS, sliceDue, yieldSlice } from '../../../server/lib/time-slice.js'

/** A work loop: `units` units of 1 ms of synchronous work, yielding whenever the slice is used up. */
async function workLoop(name: string, units: number, log: string[]): Promise<void> {
  for (let i = 0; i < units; i++) {
    if (sliceDue()) await yieldSlice()
    const until = performance.now() + 1
    while (performance.now() < until) {
      // busy: synchronous work the loop cannot interrupt
    }
    log.push(name)
  }
}

/** Runs the loops while a timer, which fires once per turn of the event loop at most, marks the turns in the log. */
async function runWithTurnMarks(loops: string[], units: number): Promise<string[][]> {
  const log: string[] = []
  let running = true
  const mark = () => {
    log.push('|')
    if (running) setTimeout(mark, 0)
  }
  setTimeout(mark, 0)
  await Promise.all(loops.map((name) => workLoop(name, units, log)))
  running = false
  // The work between two marks ran in one turn.
  const turns: string[][] = [[]]
  for (const entry of log) {
    if (entry === '|') turns.push([])
    else turns.at(-1)!.push(entry)
  }
  return turns.filter((t) => t.length > 0)
}

describe('time slices', () => {
  it('three work loops hold the event loop for one slice per turn, not one slice each', async () => {
    const turns = await runWithTurnMarks(['a', 'b', 'c'], 60)
    const loopsPerTurn = turns.map((t) => new Set(t).size)
    expect(Math.max(...loopsPerTurn)).toBe(1)
    // and no turn holds much more than a slice of work (1 ms units; a busy machine may stretch one)
    expect(Math.max(...turns.map((t) => t.length))).toBeLessThanOrEqual(SLICE_MS + 2)
  })

  it('loops that wait for a turn get theirs in the order they asked, so none starves', async () => {
    const turns = await runWithTurnMarks(['a', 'b', 'c'], 60)
    const owners = turns.map((t) => t[0]!)
    // After the first turns (the loops start one after another), turns go round: a, b, c, a, b, c, ...
    const steady = owners.slice(3, 15)
    for (let i = 3; i < steady.length; i++) expect(steady[i]).toBe(steady[i - 3])
    expect(new Set(steady.slice(0, 3)).size).toBe(3)
  })
})
