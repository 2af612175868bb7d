// A steady, bounded API load on the server under test: each endpoint is requested at a fixed rate on an open-loop
// schedule (a slow answer does not slow the schedule down), over keep-alive loopback connections, with a cap on
// requests in flight and a timeout. Only requests sent inside the measurement window are counted.
import http from 'node:http'

export type Endpoint = { name: string; path: string }

export type EndpointResult = {
  name: string
  path: string
  ratePerSec: number
  sent: number
  ok: number
  failed: number
  /** Failures by kind: an HTTP status, 'timeout', 'error: ...', or 'overload' (the in-flight cap was reached). */
  failures: Record<string, number>
  p50Ms: number | null
  p90Ms: number | null
  p99Ms: number | null
  maxMs: number | null
  meanMs: number | null
}

export type LoadOptions = { ratePerSec: number; maxInFlight?: number; timeoutMs?: number }

type EndpointState = Endpoint & {
  agent: http.Agent
  inFlight: number
  timer: NodeJS.Timeout | null
  next: number
  window: { sent: number; ok: number; failures: Record<string, number>; latencies: number[] }
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

const round2 = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100)

export class ApiLoad {
  private readonly states: EndpointState[]
  private recording = false
  private running = false
  private readonly pending = new Set<Promise<void>>()
  private readonly intervalMs: number
  private readonly maxInFlight: number
  private readonly timeoutMs: number

  constructor(
    private readonly baseUrl: string,
    endpoints: Endpoint[],
    private readonly opts: LoadOptions,
  ) {
    this.intervalMs = 1000 / opts.ratePerSec
    this.maxInFlight = opts.maxInFlight ?? 20
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.states = endpoints.map((e) => ({
      ...e,
      agent: new http.Agent({ keepAlive: true, maxSockets: this.maxInFlight }),
      inFlight: 0,
      timer: null,
      next: 0,
      window: emptyWindow(),
    }))
  }

  start(): void {
    if (this.running) return
    this.running = true
    const t0 = performance.now()
    // Endpoints are staggered across the interval, so their requests do not arrive in pairs.
    this.states.forEach((s, i) => {
      s.next = t0 + (i * this.intervalMs) / this.states.length
      this.schedule(s)
    })
  }

  beginWindow(): void {
    for (const s of this.states) s.window = emptyWindow()
    this.recording = true
  }

  /** Stops counting new requests and waits for those sent inside the window to finish. */
  async endWindow(): Promise<EndpointResult[]> {
    this.recording = false
    await Promise.all([...this.pending])
    return this.states.map((s) => {
      const sorted = [...s.window.latencies].sort((a, b) => a - b)
      const failed = Object.values(s.window.failures).reduce((a, b) => a + b, 0)
      return {
        name: s.name,
        path: s.path,
        ratePerSec: this.opts.ratePerSec,
        sent: s.window.sent,
        ok: s.window.ok,
        failed,
        failures: { ...s.window.failures },
        p50Ms: round2(percentile(sorted, 50)),
        p90Ms: round2(percentile(sorted, 90)),
        p99Ms: round2(percentile(sorted, 99)),
        maxMs: round2(sorted.at(-1) ?? null),
        meanMs: round2(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null),
      }
    })
  }

  async stop(): Promise<void> {
    this.running = false
    this.recording = false
    for (const s of this.states) if (s.timer) clearTimeout(s.timer)
    await Promise.all([...this.pending])
    for (const s of this.states) s.agent.destroy()
  }

  private schedule(s: EndpointState): void {
    if (!this.running) return
    s.timer = setTimeout(() => {
      s.timer = null
      if (!this.running) return
      // Open loop: every slot that came due is sent now (a late timer never thins the load out).
      const now = performance.now()
      while (s.next <= now) {
        s.next += this.intervalMs
        this.fire(s)
      }
      this.schedule(s)
    }, Math.max(0, s.next - performance.now()))
  }

  private fire(s: EndpointState): void {
    const window = this.recording ? s.window : null
    if (window) window.sent++
    if (s.inFlight >= this.maxInFlight) {
      if (window) bump(window.failures, 'overload')
      return
    }
    s.inFlight++
    const done = this.request(s).then((outcome) => {
      s.inFlight--
      if (!window) return
      if (outcome.ok) {
        window.ok++
        window.latencies.push(outcome.ms)
      } else {
        bump(window.failures, outcome.failure)
      }
    })
    this.pending.add(done)
    void done.finally(() => this.pending.delete(done))
  }

  private request(s: EndpointState): Promise<{ ok: true; ms: number } | { ok: false; failure: string }> {
    return new Promise((resolve) => {
      const started = performance.now()
      let settled = false
      const finish = (r: { ok: true; ms: number } | { ok: false; failure: string }) => {
        if (settled) return
        settled = true
        resolve(r)
      }
      const req = http.get(`${this.baseUrl}${s.path}`, { agent: s.agent }, (res) => {
        res.on('data', () => undefined)
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) finish({ ok: true, ms: performance.now() - started })
          else finish({ ok: false, failure: `HTTP ${status}` })
        })
        res.on('error', (err) => finish({ ok: false, failure: `error: ${err.message}` }))
      })
      req.setTimeout(this.timeoutMs, () => {
        finish({ ok: false, failure: 'timeout' })
        req.destroy()
      })
      req.on('error', (err) => finish({ ok: false, failure: `error: ${(err as NodeJS.ErrnoException).code ?? err.message}` }))
    })
  }
}

function emptyWindow(): EndpointState['window'] {
  return { sent: 0, ok: 0, failures: {}, latencies: [] }
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}
