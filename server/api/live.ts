// GET /api/live: the dashboard's server-sent events. One shared 1 s tick builds one snapshot, serializes it once and
// writes it to every connected client, so N viewers cost one getProgress() per second, not N. The tick runs only
// while someone is connected; the rate history a newcomer starts from is kept at all times (rate-history.ts). Clients that go away are dropped on 'close'; clients that cannot keep up skip
// snapshots (they are state, not a log) and are cut off if they stay blocked; at most `maxClients` at once (503 after).
//
// Wire format (text/event-stream):
//   retry: 3000
//   event: history        once, on connect: {points: HistoryPoint[]} (the last minutes of rates, may be empty)
//   event: progress       on connect and then every second: LivePayload
//   : keep-alive          a comment every 15 s, so proxies keep the connection open
import { Router, type Request, type Response } from 'express'
import type { BackfillProgress } from '../services/backfill.js'
import { FIREHOSE_OFF, type FirehoseStatus } from '../services/firehose-status.js'
import type { RatePoint } from '../services/rate-history.js'
import type { SystemSample } from '../services/system-metrics.js'
import type { ApiServices, Awaitable } from './services.js'

export type { FirehoseStatus } from '../services/firehose-status.js'

export type LivePayload = {
  /** When the server built this snapshot (ISO 8601). */
  at: string
  backfill: BackfillProgress
  system: SystemSample
  firehose: FirehoseStatus
}

/** One point of the events/s chart. */
export type HistoryPoint = RatePoint

export type LiveSource = () => Awaitable<LivePayload>

export type LiveOptions = {
  intervalMs?: number
  heartbeatMs?: number
  maxClients?: number
  /** The rate history sent to each newcomer (RateHistory.points of the running server); none when absent. */
  history?: () => Awaitable<HistoryPoint[]>
  /** A client whose socket stays blocked this long is disconnected. */
  slowClientMs?: number
}

type Client = { res: Response; blockedSince: number | null }
/** A payload and its event-stream frame, serialized once for every client. */
type Snapshot = { payload: LivePayload; frame: string }

/** Builds the snapshot from the running services. */
export function liveSource({ backfill, system, firehose }: Pick<ApiServices, 'backfill' | 'system' | 'firehose'>): LiveSource {
  return async () => {
    const [progress, sample, status] = await Promise.all([backfill.getProgress(), system.sample(), firehose?.getStatus() ?? FIREHOSE_OFF])
    return { at: new Date().toISOString(), backfill: progress, system: sample, firehose: status }
  }
}

export class LiveHub {
  private readonly clients = new Set<Client>()
  private tickTimer: NodeJS.Timeout | null = null
  private heartbeatTimer: NodeJS.Timeout | null = null
  private latest: Snapshot | null = null
  private failing = false
  private readonly intervalMs: number
  private readonly heartbeatMs: number
  private readonly history: () => Awaitable<HistoryPoint[]>
  /** The snapshot being built, if one is: a tick or a newcomer while it is under way waits for it, not for another. */
  private building: Promise<Snapshot | null> | null = null
  private readonly slowClientMs: number
  readonly maxClients: number

  constructor(
    private readonly source: LiveSource,
    options: LiveOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000
    this.heartbeatMs = options.heartbeatMs ?? 15_000
    this.maxClients = options.maxClients ?? 50
    this.history = options.history ?? (() => [])
    this.slowClientMs = options.slowClientMs ?? 30_000
  }

  get clientCount(): number {
    return this.clients.size
  }

  handle = async (req: Request, res: Response): Promise<void> => {
    if (this.clients.size >= this.maxClients) {
      res
        .status(503)
        .set('Retry-After', '10')
        .json({ error: 'Service Unavailable', message: `too many live dashboard connections (limit ${this.maxClients}); retry later` })
      return
    }
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.flushHeaders()
    req.socket.setNoDelay(true)
    req.socket.setKeepAlive(true)
    const client: Client = { res, blockedSince: null }
    this.clients.add(client)
    const drop = () => this.remove(client)
    req.on('close', drop)
    res.on('close', drop)
    res.on('error', drop)
    res.on('drain', () => {
      client.blockedSince = null
    })

    // A fresh snapshot for the newcomer right away (also starts the tick if it was idle).
    this.write(client, `retry: 3000\n\n`)
    this.ensureTimers()
    const [points, current] = await Promise.all([this.historyPoints(), this.snapshot()])
    this.write(client, frame('history', JSON.stringify({ points })))
    if (current) this.write(client, current.frame)
  }

  /** Ends every stream and stops the timers (the server is shutting down). */
  close(): void {
    for (const client of [...this.clients]) client.res.end()
    this.clients.clear()
    this.stopTimers()
  }

  private remove(client: Client): void {
    if (!this.clients.delete(client)) return
    if (this.clients.size === 0) this.stopTimers()
  }

  /** A fresh snapshot; if building one fails, the last good one (null if there is none yet). */
  private snapshot(): Promise<Snapshot | null> {
    this.building ??= this.build().finally(() => (this.building = null))
    return this.building
  }

  private async build(): Promise<Snapshot | null> {
    try {
      const payload = await this.source()
      this.latest = { payload, frame: frame('progress', JSON.stringify(payload)) }
      this.failing = false
    } catch (err) {
      // Keep the stream alive on the last good snapshot; the next tick tries again. Logged once per outage.
      if (!this.failing) console.error(`[LIVE] could not build a snapshot: ${err instanceof Error ? err.message : String(err)}`)
      this.failing = true
    }
    return this.latest
  }

  private async historyPoints(): Promise<HistoryPoint[]> {
    try {
      return await this.history()
    } catch {
      // A newcomer without the past minutes still gets the stream; the chart fills from the ticks.
      return []
    }
  }

  private tick = async (): Promise<void> => {
    const current = await this.snapshot()
    if (!current) return
    const { frame: text } = current
    const now = Date.now()
    for (const client of [...this.clients]) {
      if (client.blockedSince !== null) {
        if (now - client.blockedSince > this.slowClientMs) {
          client.res.destroy()
          this.remove(client)
        }
        continue
      }
      this.write(client, text)
    }
  }

  private heartbeat = (): void => {
    for (const client of [...this.clients]) if (client.blockedSince === null) this.write(client, `: keep-alive\n\n`)
  }

  private write(client: Client, text: string): void {
    if (client.res.writableEnded || client.res.destroyed) {
      this.remove(client)
      return
    }
    if (!client.res.write(text)) client.blockedSince ??= Date.now()
  }

  private ensureTimers(): void {
    if (this.clients.size === 0) return
    if (!this.tickTimer) {
      this.tickTimer = setInterval(() => void this.tick(), this.intervalMs)
      this.tickTimer.unref()
    }
    if (!this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(this.heartbeat, this.heartbeatMs)
      this.heartbeatTimer.unref()
    }
  }

  private stopTimers(): void {
    if (this.tickTimer) clearInterval(this.tickTimer)
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    this.tickTimer = null
    this.heartbeatTimer = null
  }
}

function frame(event: string, data: string): string {
  // JSON.stringify never emits a raw newline, so the data fits on one `data:` line.
  return `event: ${event}\ndata: ${data}\n\n`
}

export function liveRoutes(source: LiveSource, options: LiveOptions = {}): Router & { hub: LiveHub } {
  const hub = new LiveHub(source, options)
  const router = Router() as Router & { hub: LiveHub }
  router.get('/api/live', hub.handle)
  router.hub = hub
  return router
}
