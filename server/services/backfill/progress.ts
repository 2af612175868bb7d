// The backfill's progress as the dashboard, /api/backfill, /metrics and the log lines read it: one pure function
// of what the service knows, so the view is tested without a run and the service does not format itself.
import type { GateReason } from '../../pipeline/gate.js'
import type { Gap, PipelineCounts } from '../../pipeline/pipeline.js'
import type { ThrottleBudget } from '../../pipeline/throttle.js'
import type { ThrottleSettings } from '../../config/profiles.js'
import type { IdentityProgress } from '../identity.js'
import type { InstanceView } from '../instance-registry.js'
import type { LogLine } from '../log.js'
import type { SourceConnection } from '../source-connection.js'
import type { SyncStateCounts } from '../../repos/resync-scheduler.js'
import type { RepoProgress } from './repo-part.js'
import type { RunMeta } from './run-state.js'

/** The run's own state; `paused` and `throttled` are derived from the gate and the throttle (see `shownState`). */
export type RunState = 'off' | 'idle' | 'locating' | 'running' | 'complete' | 'failed'
export type BackfillState = RunState | 'paused' | 'throttled'

export type BackfillProgress = {
  state: BackfillState
  relay: string
  window: { days: number | null; requestedFrom: string | null; availableFrom: { seq: number; time: string } | null }
  /** The lowest seq below which every range of the window is written, whichever instance wrote it. */
  cursor: number | null
  head: number | null
  start: number | null
  /**
   * 0–100 over the whole run, every instance's work included: the replay's and, when repositories are fetched, their
   * mean with the repos' percent.
   */
  percent: number | null
  /** 0–100: the share of the window's seqs written, over every range. */
  replayPercent: number | null
  /** What this instance's replay did. */
  counts: PipelineCounts
  /** This instance's replay rate. */
  eventsPerSecond: number
  /** The whole run's: what is left at the rate of every live instance together. */
  etaSeconds: number | null
  memory: { rssMb: number; heapUsedMb: number; limitMb: number; paused: boolean }
  db: { inUse: number; limit: number; highWater: number; poolSize: number; poolTotal: number; poolWaiting: number; down: boolean }
  throttle: {
    profile: string
    describe: string
    batchSize: number
    batchDelayMs: number
    useIdle: boolean
    /** The adaptive governor's budget (CPU % of one core, event-loop delay), shown against use; null otherwise. */
    budget: ThrottleBudget | null
  }
  source: SourceConnection
  pausedBy: string[]
  gaps: Gap[]
  startedAt: string | null
  completedAt: string | null
  error: string | null
  logs: LogLine[]
  /** The repository part of the run; null when this run fetches none. */
  repos: RepoProgress | null
  /** Every actor's identity (verified handles, PDSes), whichever part met it; null when no identity service runs. */
  identity: IdentityProgress | null
  /** Every known repository by sync state (active, desynchronized, resyncing, error); null without repo work. */
  sync: SyncStateCounts | null
  /** Every instance on the database (live or lately seen), as the last heartbeat read them. */
  instances: InstanceView[]
}

export const EMPTY_COUNTS: PipelineCounts = { received: 0, processed: 0, skipped: 0, invalid: 0, upserted: 0, deleted: 0, unindexed: 0 }

/** What the service knows at one moment; everything the progress view is computed from. */
export type ProgressInput = {
  state: RunState
  relay: string
  windowDays: number | null
  meta: RunMeta | null
  pipeline: {
    committedSeq: number | null
    /** Seqs of the window written over every range; null when not known yet. */
    written: number | null
    counts: PipelineCounts
    eventsPerSecond: number
    gaps: readonly Gap[]
    databaseDown: boolean
  } | null
  source: SourceConnection
  closedBy: readonly GateReason[]
  settings: ThrottleSettings
  profile: string
  describe: string
  budget: ThrottleBudget | null
  semaphore: { active: number; limit: number; highWater: number }
  pool: { totalCount: number; waitingCount: number }
  memory: { rssMb: number; heapUsedMb: number }
  error: string | null
  logs: LogLine[]
  repos: RepoProgress | null
  identity: IdentityProgress | null
  sync: SyncStateCounts | null
  instances: InstanceView[]
}

/** What the dashboard calls the state: a running backfill is paused while any reason holds the gate. */
export function shownState(state: RunState, closedBy: readonly GateReason[], settings: ThrottleSettings): BackfillState {
  if (state !== 'running') return state
  if (closedBy.length > 0) return 'paused'
  return settings.batchDelayMs > 0 ? 'throttled' : 'running'
}

export function backfillProgress(input: ProgressInput): BackfillProgress {
  const { meta, pipeline, settings, state } = input
  const cursor = pipeline?.committedSeq ?? null
  const start = meta?.startCursor ?? null
  const head = meta?.headSeq ?? null
  const size = head === null ? null : head - (start ?? 0)
  const written = pipeline?.written ?? (cursor !== null ? cursor - (start ?? 0) : null)
  const percent =
    written !== null && size !== null
      ? state === 'complete' || size <= 0
        ? 100
        : Math.max(0, Math.min(100, (written / size) * 100))
      : state === 'complete'
        ? 100
        : null
  const rate = pipeline?.eventsPerSecond ?? 0
  // Every live instance replays ranges of the same window: what is left goes at their rates together.
  const others = input.instances.filter((i) => i.live && !i.self).reduce((sum, i) => sum + i.eventsPerSecond, 0)
  const allRate = rate + others
  // The rate is in frames; seqs are frames too, so the distance left is the window's seqs not yet written.
  const replayEta = allRate > 0 && written !== null && size !== null && state !== 'complete' ? Math.round(Math.max(0, size - written) / allRate) : null
  const replayPercent = percent === null ? null : Math.round(percent * 10) / 10
  const repos = input.repos
  const overall =
    state === 'complete' ? 100 : repos && replayPercent !== null && repos.percent !== null ? Math.round(((replayPercent + repos.percent) / 2) * 10) / 10 : replayPercent
  // The run ends when its slower part does.
  const eta = repos && state !== 'complete' ? (replayEta === null && cursor !== head ? null : Math.max(replayEta ?? 0, repos.etaSeconds ?? 0) || repos.etaSeconds) : replayEta
  return {
    state: shownState(state, input.closedBy, settings),
    relay: input.relay,
    window: {
      days: input.windowDays,
      requestedFrom: meta?.requestedFrom ?? null,
      availableFrom: meta?.availableFrom ?? null,
    },
    cursor,
    head,
    start,
    percent: overall,
    replayPercent,
    counts: pipeline ? { ...pipeline.counts } : { ...EMPTY_COUNTS },
    eventsPerSecond: Math.round(rate * 10) / 10,
    etaSeconds: eta,
    memory: { ...input.memory, limitMb: settings.maxMemoryMb, paused: input.closedBy.includes('memory') },
    db: {
      inUse: input.semaphore.active,
      limit: input.semaphore.limit,
      highWater: input.semaphore.highWater,
      poolSize: settings.dbPoolSize,
      poolTotal: input.pool.totalCount,
      poolWaiting: input.pool.waitingCount,
      down: pipeline?.databaseDown ?? false,
    },
    throttle: {
      profile: input.profile,
      describe: input.describe,
      batchSize: settings.batchSize,
      batchDelayMs: settings.batchDelayMs,
      useIdle: settings.useIdle,
      budget: input.budget,
    },
    source: input.source,
    pausedBy: [...input.closedBy],
    gaps: pipeline ? [...pipeline.gaps] : [],
    startedAt: meta?.startedAt ?? null,
    completedAt: meta?.completedAt ?? null,
    error: input.error,
    logs: input.logs,
    repos,
    identity: input.identity,
    sync: input.sync,
    instances: input.instances,
  }
}
