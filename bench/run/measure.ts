// Samplers for one mode: the server's own per-second view (/api/live), backfill connections as Postgres sees them
// (pg_stat_activity), the server's resident memory (/proc), and CPU snapshots of the server, Postgres, the bench
// itself and the whole machine, whose differences over a window give each one's share.
import http from 'node:http'
import pg from 'pg'
import { cpuSeconds, machineCpu, mainThreadCpuSeconds, processMemory, treeCpuSeconds } from './proc.js'

export async function getJson<T>(url: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if ((res.statusCode ?? 0) >= 400) return reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`))
        try {
          resolve(JSON.parse(text) as T)
        } catch {
          reject(new Error(`GET ${url}: not JSON: ${text.slice(0, 200)}`))
        }
      })
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

/** The part of GET /api/backfill the bench reads. */
export type Progress = {
  state: string
  cursor: number | null
  head: number | null
  counts: { received: number; processed: number; skipped: number; invalid: number; upserted: number; deleted: number }
  eventsPerSecond: number
  memory: { rssMb: number; limitMb: number; paused: boolean }
  db: { inUse: number; limit: number; highWater: number }
  throttle: { describe: string; batchSize: number; batchDelayMs: number }
  error: string | null
}

type SystemSample = { cpuPercent: number; loopDelayP50Ms: number; loopDelayP99Ms: number; loopDelayMaxMs: number; rssMb: number; heapUsedMb: number; at: number }
type LivePayload = { at: string; backfill: Progress; system: SystemSample }

/** The dashboard's stream (one snapshot a second, built once on the server): event-loop delay, CPU, state. */
export class LiveStream {
  latest: LivePayload | null = null
  /** The largest V8 heap in use the server reported, MiB (over the stream's whole life). */
  maxHeapUsedMb = 0
  private req: http.ClientRequest | null = null
  private samples: SystemSample[] | null = null
  private closed = false

  constructor(private readonly url: string) {}

  open(): this {
    this.req = http.get(`${this.url}/api/live`, { headers: { accept: 'text/event-stream' } }, (res) => {
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          this.onBlock(block)
        }
      })
      res.on('error', () => undefined)
    })
    this.req.on('error', () => undefined)
    return this
  }

  private onBlock(block: string): void {
    let event = 'message'
    let data = ''
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data += line.slice(5).trim()
    }
    if (event !== 'progress' || !data) return
    try {
      this.latest = JSON.parse(data) as LivePayload
    } catch {
      return
    }
    this.maxHeapUsedMb = Math.max(this.maxHeapUsedMb, this.latest.system.heapUsedMb ?? 0)
    // The stream ticks every second, and so does the sampler behind it: the same sample can come twice.
    const last = this.samples?.at(-1)
    if (this.samples && last?.at !== this.latest.system.at) this.samples.push(this.latest.system)
  }

  beginWindow(): void {
    this.samples = []
  }

  endWindow(): SystemSample[] {
    const s = this.samples ?? []
    this.samples = null
    return s
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.req?.destroy()
  }
}

export type ConnectionStats = {
  samples: number
  max: number
  mean: number
  /**
   * What the busy connections were doing, summed over the samples: `state` and Postgres's wait event
   * (`active` with no wait: executing; `Lock/transactionid`: waiting for another transaction's row;
   * `idle in transaction/Client/ClientRead`: waiting for the server process to send the next statement).
   */
  waits: Record<string, number>
}

/** Backfill connections busy in Postgres (active or idle in a transaction), sampled every `everyMs`. */
export class DbSampler {
  private readonly pool: pg.Pool
  private timer: NodeJS.Timeout | null = null
  private window: number[] | null = null
  private waits: Record<string, number> = {}
  private busy = false

  constructor(
    adminUrl: string,
    private readonly database: string,
    private readonly everyMs = 200,
  ) {
    this.pool = new pg.Pool({ connectionString: adminUrl, max: 1, application_name: 'skyfill-bench' })
    this.pool.on('error', () => undefined)
  }

  start(): this {
    this.timer = setInterval(() => void this.sample(), this.everyMs)
    return this
  }

  private async sample(): Promise<void> {
    if (this.busy || !this.window) return
    this.busy = true
    try {
      const { rows } = await this.pool.query<{ state: string; wait: string | null }>(
        `SELECT state, wait_event_type || '/' || wait_event AS wait FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'skyfill-backfill' AND state IN ('active', 'idle in transaction')`,
        [this.database],
      )
      if (!this.window) return
      this.window.push(rows.length)
      for (const r of rows) {
        const key = r.wait ? `${r.state}/${r.wait}` : r.state
        this.waits[key] = (this.waits[key] ?? 0) + 1
      }
    } catch {
      // A missed sample is not a measurement.
    } finally {
      this.busy = false
    }
  }

  beginWindow(): void {
    this.window = []
    this.waits = {}
  }

  endWindow(): ConnectionStats {
    const w = this.window ?? []
    this.window = null
    return {
      waits: Object.fromEntries(Object.entries(this.waits).sort((a, b) => b[1] - a[1])),
      samples: w.length,
      max: w.length ? Math.max(...w) : 0,
      mean: w.length ? Math.round((w.reduce((a, b) => a + b, 0) / w.length) * 100) / 100 : 0,
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.window = null
    await this.pool.end()
  }
}

/** The server's VmRSS every `everyMs` (the largest seen), next to the kernel's own peak (VmHWM). */
export class RssSampler {
  maxRssMb = 0
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): this {
    this.sample()
    this.timer = setInterval(() => this.sample(), this.everyMs)
    return this
  }

  sample(): void {
    const m = processMemory(this.pid)
    if (m && m.rssMb > this.maxRssMb) this.maxRssMb = m.rssMb
  }

  hwmMb(): number | null {
    return processMemory(this.pid)?.hwmMb ?? null
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }
}

export type CpuSnapshot = { at: number; server: number; serverMain: number; postgres: number | null; bench: number; machineBusy: number }

/** `serverPids`: the mode's server processes, whose CPU is summed (one, or two sharing a database). */
export function cpuSnapshot(serverPids: readonly number[], postmasterPid: number | null): CpuSnapshot {
  const bench = process.cpuUsage()
  const sum = (read: (pid: number) => number | null) => serverPids.reduce((n, pid) => n + (read(pid) ?? Number.NaN), 0)
  return {
    at: performance.now(),
    server: sum(cpuSeconds),
    serverMain: sum(mainThreadCpuSeconds),
    postgres: postmasterPid === null ? null : treeCpuSeconds(postmasterPid),
    bench: (bench.user + bench.system) / 1e6,
    machineBusy: machineCpu().busyS,
  }
}

export type CpuUse = {
  wallSeconds: number
  serverCpuSeconds: number
  /** Percent of one core. */
  serverCpuPercent: number
  /** The server's main thread alone (the event loop): near 100 means the loop itself is the limit. */
  serverMainThreadCpuPercent: number
  postgresCpuPercent: number | null
  /** The bench process: the synthetic source's worker, the API load, the samplers. */
  benchCpuPercent: number
  /** Everything on the machine, percent of one core (cores × 100 when saturated). */
  machineCpuPercent: number
  /** What the machine did besides server, Postgres and bench: other users' work, noise for these figures. */
  otherCpuPercent: number | null
}

const pct = (cpu: number, wall: number) => Math.round((cpu / wall) * 1000) / 10

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const wall = (b.at - a.at) / 1000
  const server = b.server - a.server
  const postgres = a.postgres !== null && b.postgres !== null ? b.postgres - a.postgres : null
  const bench = b.bench - a.bench
  const machine = b.machineBusy - a.machineBusy
  return {
    wallSeconds: Math.round(wall * 100) / 100,
    serverCpuSeconds: Math.round(server * 100) / 100,
    serverCpuPercent: pct(server, wall),
    serverMainThreadCpuPercent: pct(b.serverMain - a.serverMain, wall),
    postgresCpuPercent: postgres === null ? null : pct(postgres, wall),
    benchCpuPercent: pct(bench, wall),
    machineCpuPercent: pct(machine, wall),
    otherCpuPercent: postgres === null ? null : Math.max(0, pct(machine - server - postgres - bench, wall)),
  }
}
