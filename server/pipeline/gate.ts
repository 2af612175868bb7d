// The intake gate: the one owner of "why is intake paused". Whoever has a reason reports it here (the operator's
// pause, a database outage, the memory watchdog) and every loop that takes in work (the replay's frame loop, the
// repo workers) waits at the gate before taking more, so a closed gate stops the socket and the fetches alike.
export type GateReason = 'operator' | 'database' | 'memory'

export class IntakeGate {
  private readonly reasons = new Set<GateReason>()
  private waiters: (() => void)[] = []

  close(reason: GateReason): void {
    this.reasons.add(reason)
  }

  open(reason: GateReason): void {
    this.reasons.delete(reason)
    if (this.reasons.size === 0) {
      const waiters = this.waiters
      this.waiters = []
      for (const wake of waiters) wake()
    }
  }

  get closedBy(): GateReason[] {
    return [...this.reasons]
  }

  get isOpen(): boolean {
    return this.reasons.size === 0
  }

  /** Resolves when the gate is open, or when `abort` fires. */
  waitOpen(abort?: AbortSignal): Promise<void> {
    if (this.isOpen || abort?.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        abort?.removeEventListener('abort', done)
        resolve()
      }
      this.waiters.push(done)
      abort?.addEventListener('abort', done, { once: true })
    })
  }
}
