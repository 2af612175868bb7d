// Memory watchdog. The measure is the process's resident set size (RSS): it is what the kernel's OOM killer and an
// operator's `top` see, and it includes what the V8 heap does not (socket buffers, CBOR/CAR byte arrays).
// Pure decision (`memoryDecision`) apart from the waiting and the logging, so the thresholds are unit-tested.
// The watchdog holds the loop that calls it and reports the pause to the intake gate, which owns every pause.
// Reading RSS costs a read of /proc (about 0.4 ms on a busy machine, measured under --cpu-prof), and the pipeline
// asks every 100 frames: within the limit a reading is reused for SAMPLE_EVERY_MS, so at thousands of frames a
// second it is read a few times a second, not dozens; while above the limit every wait reads it afresh.
// The RSS includes the whole V8 heap, so pausing below V8's own heap limit (--max-old-space-size; skyfill's default is
// in server/node-options.env) means intake stops before V8 could run out of heap, whatever BACKFILL_MAX_MEMORY_MB says.
import v8 from 'node:v8'
import { abortableSleep } from '../lib/sleep.js'
import type { IntakeGate } from './gate.js'

/** Waits while memory stays above the limit: 5 s, then 10 s more, then 10 s at a time until it recovers. */
export const MEMORY_BACKOFF_MS = [5_000, 10_000] as const

export type MemoryDecision = { action: 'continue' } | { action: 'wait'; waitMs: number }

/** @param waitsSoFar how many waits this high-memory episode has had already. */
export function memoryDecision(rssMb: number, limitMb: number, waitsSoFar: number): MemoryDecision {
  if (rssMb <= limitMb) return { action: 'continue' }
  const waitMs = MEMORY_BACKOFF_MS[Math.min(waitsSoFar, MEMORY_BACKOFF_MS.length - 1)]!
  return { action: 'wait', waitMs }
}

/** The share of V8's heap limit that RSS may reach before intake pauses. */
export const HEAP_LIMIT_SHARE = 0.9

/** V8's heap limit (old space, from --max-old-space-size or V8's default, plus the young generation). */
export const heapLimitMb = () => Math.floor(v8.getHeapStatistics().heap_size_limit / (1024 * 1024))

/** The RSS above which intake pauses: BACKFILL_MAX_MEMORY_MB, or less when V8's heap limit is lower than that. */
export function pauseAboveMb(configuredMb: number, heapLimit: number): number {
  return Math.min(configuredMb, Math.floor(heapLimit * HEAP_LIMIT_SHARE))
}

export const rssMb = () => Math.round(process.memoryUsage.rss() / (1024 * 1024))

/** How long a reading within the limit stands for the next checks. */
export const SAMPLE_EVERY_MS = 200

type Gc = () => void
const exposedGc = (): Gc | null => (typeof globalThis.gc === 'function' ? (globalThis.gc as Gc) : null)

export type WatchdogOptions = {
  limitMb: () => number
  log: (line: string) => void
  measureMb?: () => number
  /** V8's heap limit in MB (default: this process's). */
  heapLimitMb?: number
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Milliseconds from any fixed origin (default performance.now). */
  now?: () => number
  gate: IntakeGate
}

export class MemoryWatchdog {
  /** When the last reading found memory within the limit; -Infinity: read at the next check. */
  private withinSince = -Infinity

  /** Fixed for the life of the process: read once, not at every reading of RSS. */
  private readonly heapLimitMb: number

  constructor(private readonly opts: WatchdogOptions) {
    this.heapLimitMb = opts.heapLimitMb ?? heapLimitMb()
  }

  /**
   * Returns at once when memory is within the limit; otherwise holds the caller (and so intake) until it is, or
   * until `signal` aborts (a shutdown must not wait for memory to recover).
   */
  async check(signal?: AbortSignal): Promise<void> {
    const measure = this.opts.measureMb ?? rssMb
    const sleep = this.opts.sleep ?? abortableSleep
    const now = this.opts.now ?? (() => performance.now())
    if (now() - this.withinSince < SAMPLE_EVERY_MS) return
    let waits = 0
    while (!signal?.aborted) {
      const used = measure()
      const limit = pauseAboveMb(this.opts.limitMb(), this.heapLimitMb)
      const decision = memoryDecision(used, limit, waits)
      if (decision.action === 'continue') {
        this.withinSince = now()
        if (waits > 0) {
          this.opts.log(`Memory recovered: ${used} MB / ${limit} MB limit, resuming intake`)
          this.opts.gate.open('memory')
        }
        return
      }
      if (waits === 0) {
        this.opts.log(`Memory: ${used} MB / ${limit} MB limit, pausing intake`)
        this.opts.gate.close('memory')
      } else {
        this.opts.log(`Memory still high: ${used} MB / ${limit} MB limit, waiting ${decision.waitMs / 1000} s more`)
      }
      const gc = exposedGc()
      if (gc) gc()
      await sleep(decision.waitMs, signal)
      waits++
    }
  }
}
