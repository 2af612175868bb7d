// The SSE connection to /api/live. EventSource reconnects by itself after a dropped stream; when the server refuses
// outright (503: too many viewers, or a non-stream answer) EventSource gives up, so we retry with a backoff.
// A tab hidden for a while lets its connection go (the server caps viewers) and reconnects when shown again.
import type { HistoryPoint, LivePayload } from './types.js'

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'stale' | 'paused'

export type LiveHandlers = {
  onProgress(payload: LivePayload): void
  onHistory(points: HistoryPoint[]): void
  onConnection(state: ConnectionState, detail: string): void
}

export class LiveConnection {
  private source: EventSource | null = null
  private retryTimer: number | null = null
  private hiddenTimer: number | null = null
  private retryMs = 2000
  private lastEventAt = 0
  private state: ConnectionState = 'connecting'

  constructor(
    private readonly url: string,
    private readonly handlers: LiveHandlers,
    private readonly staleAfterMs = 5000,
    private readonly releaseHiddenAfterMs = 60_000,
  ) {
    window.setInterval(() => this.checkStale(), 1000)
    document.addEventListener('visibilitychange', () => this.onVisibility())
  }

  connect(): void {
    this.clearRetry()
    this.source?.close()
    this.set(this.lastEventAt ? 'reconnecting' : 'connecting', 'connecting to the server…')
    const source = new EventSource(this.url)
    this.source = source
    source.addEventListener('open', () => {
      this.retryMs = 2000
    })
    source.addEventListener('history', (e) => {
      const data = this.parse<{ points: HistoryPoint[] }>(e)
      if (data && Array.isArray(data.points)) this.handlers.onHistory(data.points)
    })
    source.addEventListener('progress', (e) => {
      const data = this.parse<LivePayload>(e)
      if (!data) return
      this.lastEventAt = Date.now()
      this.set('live', 'live')
      this.handlers.onProgress(data)
    })
    source.addEventListener('error', () => {
      if (source !== this.source) return
      if (source.readyState === EventSource.CLOSED) {
        // Refused (e.g. 503 when the server has too many viewers): EventSource will not retry by itself.
        source.close()
        this.source = null
        const wait = this.retryMs
        this.retryMs = Math.min(this.retryMs * 2, 60_000)
        this.set('reconnecting', `connection refused; retrying in ${Math.round(wait / 1000)} s`)
        this.retryTimer = window.setTimeout(() => this.connect(), wait)
      } else {
        this.set('reconnecting', 'connection lost; reconnecting…')
      }
    })
  }

  private parse<T>(e: Event): T | null {
    try {
      return JSON.parse((e as MessageEvent<string>).data) as T
    } catch {
      this.set('stale', 'the server sent an unreadable update')
      return null
    }
  }

  private set(state: ConnectionState, detail: string): void {
    this.state = state
    this.handlers.onConnection(state, detail)
  }

  private checkStale(): void {
    if (this.state !== 'live') return
    const silent = Date.now() - this.lastEventAt
    if (silent > this.staleAfterMs) this.set('stale', `no update for ${Math.round(silent / 1000)} s`)
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  private onVisibility(): void {
    if (document.visibilityState === 'hidden') {
      this.hiddenTimer ??= window.setTimeout(() => {
        this.hiddenTimer = null
        this.clearRetry()
        this.source?.close()
        this.source = null
        this.set('paused', 'paused while the tab is hidden')
      }, this.releaseHiddenAfterMs)
    } else {
      if (this.hiddenTimer !== null) window.clearTimeout(this.hiddenTimer)
      this.hiddenTimer = null
      if (!this.source && this.retryTimer === null) this.connect()
    }
  }
}
