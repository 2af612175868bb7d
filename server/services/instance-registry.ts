// Every instance on one database says it is alive: a row in `instances` (migration 006) written every few seconds
// with what it holds (replay ranges, repository jobs, counted from their leases) and its rates. From the same
// heartbeat it learns who else is live (a heartbeat within three of its intervals: db/lease-liveness.ts, which also
// lets the others take over the leases of an instance that stopped beating), which is how the per-host limits are
// divided (net/limit-share.ts) and what /api/backfill and the dashboard list. A dead instance's row stays, shown as
// not live, for a while; a stopped one deletes its own, so the others take its share at their next heartbeat.
import type pg from 'pg'
import { INSTANCE_LIVE } from '../db/lease-liveness.js'
import { abortableSleep } from '../lib/sleep.js'
import { processRuns } from '../lib/process-runs.js'

export type InstanceReport = { eventsPerSecond: number; recordsPerSecond: number; framesWritten: number }

/** One instance as the others see it: nothing of its configuration (no database address, no token). */
export type InstanceView = {
  id: string
  host: string
  pid: number
  startedAt: string
  lastHeartbeat: string
  holds: { ranges: number; repos: number }
  eventsPerSecond: number
  recordsPerSecond: number
  framesWritten: number
  live: boolean
  /** This is the instance answering. */
  self: boolean
}

export type InstanceRegistryOptions = {
  pool: pg.Pool
  id: string
  hostname: string
  pid: number
  intervalMs: number
  report: () => InstanceReport
  /** After each heartbeat that could read the others: this instance's rank among the live ones, ordered by id. */
  onLive?: (rank: number, live: number) => void
  log: (line: string) => void
}

/** An instance counts as live for this many of its heartbeat intervals after its last one. */
const LIVE_BEATS = 3

const BEAT_SQL = `
  INSERT INTO instances AS i (id, hostname, pid, started_at, live_ms, last_heartbeat, ranges_held, repos_held,
    events_per_second, records_per_second, frames_written)
  VALUES ($1, $2, $3, $4, $8, now(),
    (SELECT count(*) FROM replay_ranges WHERE lease_owner = $1 AND state = 'replaying'),
    (SELECT count(*) FROM repos WHERE lease_owner = $1 AND state = 'fetching'),
    $5, $6, $7)
  ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), live_ms = EXCLUDED.live_ms, hostname = EXCLUDED.hostname,
    pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, ranges_held = EXCLUDED.ranges_held,
    repos_held = EXCLUDED.repos_held, events_per_second = EXCLUDED.events_per_second,
    records_per_second = EXCLUDED.records_per_second, frames_written = EXCLUDED.frames_written`

// Rows of instances gone for an hour are forgotten; those of the last ten minutes are listed.
const LIST_SQL = `
  WITH gone AS (DELETE FROM instances WHERE last_heartbeat < now() - interval '1 hour')
  SELECT id, hostname, pid, started_at, last_heartbeat, ranges_held, repos_held, events_per_second,
    records_per_second, frames_written, ${INSTANCE_LIVE} AS live
  FROM instances i WHERE last_heartbeat >= now() - interval '10 minutes' ORDER BY id`

// The row under this instance's id, if another process may still be beating under it.
const HOLDER_SQL = `SELECT hostname, pid, last_heartbeat, live_ms, ${INSTANCE_LIVE} AS live FROM instances i WHERE id = $1`
type HolderRow = Pick<Row, 'hostname' | 'pid' | 'last_heartbeat' | 'live'> & { live_ms: number }

/** Another live process answers to this instance's id: two processes under one id would give back each other's work. */
export class InstanceIdInUse extends Error {
  constructor(id: string, hostname: string, pid: number) {
    super(
      `INSTANCE_ID ${id} is in use: the instance on ${hostname} (pid ${pid}) is live under it. ` +
        'Give every instance its own INSTANCE_ID, or leave it unset for an automatic one',
    )
  }
}

type Row = {
  id: string
  hostname: string
  pid: number
  started_at: Date
  last_heartbeat: Date
  ranges_held: number
  repos_held: number
  events_per_second: number
  records_per_second: number
  frames_written: string
  live: boolean
}

export class InstanceRegistry {
  private readonly startedAt = new Date()
  private timer: NodeJS.Timeout | null = null
  private instances: InstanceView[] = []
  private beating: Promise<void> | null = null
  private failing = false

  constructor(private readonly opts: InstanceRegistryOptions) {}

  /**
   * Before anything is claimed under this id: returns once no other process is live under it, waiting out the row
   * of one that stopped beating (killed a moment ago elsewhere, or a database restarted under it); throws
   * InstanceIdInUse when that row's heartbeat moves meanwhile. A previous life of this process on this host (its
   * pid gone) needs no wait. A database that cannot be asked leaves the check to the leases, as before it.
   */
  async ensureOwnId(): Promise<void> {
    const { pool, id, hostname, pid, log } = this.opts
    let seen: number | null = null
    for (;;) {
      let row: HolderRow | undefined
      try {
        row = (await pool.query<HolderRow>(HOLDER_SQL, [id])).rows[0]
      } catch {
        return
      }
      if (!row?.live) return
      if (row.hostname === hostname && (row.pid === pid || !processRuns(row.pid))) return
      const beat = row.last_heartbeat.getTime()
      if (seen !== null && beat !== seen) throw new InstanceIdInUse(id, row.hostname, row.pid)
      if (seen === null) log(`${id} was live a moment ago on ${row.hostname} (pid ${row.pid}): waiting for it to beat again or lapse`)
      seen = beat
      await abortableSleep(row.live_ms / LIVE_BEATS)
    }
  }

  /** Beats once now (so the first limits are already shared), then every interval. */
  async start(): Promise<void> {
    await this.beat()
    this.timer = setInterval(() => void this.beat(), this.opts.intervalMs)
    this.timer.unref()
  }

  /** The instances as the last heartbeat read them. */
  list(): InstanceView[] {
    return this.instances
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.beating
    await this.opts.pool.query('DELETE FROM instances WHERE id = $1', [this.opts.id]).catch(() => {})
  }

  /** One heartbeat: this instance's row, then everyone's. A database that is down only delays it. */
  beat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => {
      this.beating = null
    })
    return this.beating
  }

  private async beatOnce(): Promise<void> {
    const { pool, id } = this.opts
    const r = this.opts.report()
    try {
      const beat = [id, this.opts.hostname, this.opts.pid, this.startedAt, r.eventsPerSecond, r.recordsPerSecond, r.framesWritten, LIVE_BEATS * this.opts.intervalMs]
      await pool.query(BEAT_SQL, beat)
      const { rows } = await pool.query<Row>(LIST_SQL)
      this.instances = rows.map((row) => ({
        id: row.id,
        host: row.hostname,
        pid: row.pid,
        startedAt: row.started_at.toISOString(),
        lastHeartbeat: row.last_heartbeat.toISOString(),
        holds: { ranges: row.ranges_held, repos: row.repos_held },
        eventsPerSecond: Math.round(row.events_per_second * 10) / 10,
        recordsPerSecond: Math.round(row.records_per_second * 10) / 10,
        framesWritten: Number(row.frames_written),
        live: row.live,
        self: row.id === id,
      }))
      if (this.failing) this.opts.log(`Heartbeat written again`)
      this.failing = false
      const live = this.instances.filter((i) => i.live)
      const rank = live.findIndex((i) => i.self)
      if (rank >= 0) this.opts.onLive?.(rank, live.length)
    } catch (err) {
      if (!this.failing) this.opts.log(`Heartbeat failed: ${(err as Error).message}; the last view of the instances stands`)
      this.failing = true
    }
  }
}
