// The one place that reads process.env. Everything else receives a typed Config.
import path from 'node:path'
import { isValidHandle } from '@atproto/syntax'
import { DEFAULT_HOST_LIMITS } from './host-limits.js'
import { ConfigError, boolean, integer, list, number, oneOf, raw, url, type Env } from './parse.js'
import { PROFILES, PROFILE_NAMES, type ProfileName, type ThrottleSettings } from './profiles.js'
import { parseSchedule, type Schedule } from './schedule.js'
import { parseInstanceId } from './instance.js'

export { ConfigError } from './parse.js'

export const DECODERS = ['lean', 'sync', 'verified'] as const
export type DecoderName = (typeof DECODERS)[number]

/**
 * What the backfill covers. `held` (BACKFILL_DAYS=-1): what the source still replays, nothing more. `days`: the
 * last N days, replayed as far as the source holds them and fetched from the repositories beyond that. `all`
 * (BACKFILL_DAYS=all): every record of every repository, plus the replay of what the source holds.
 */
export type BackfillWindow = { kind: 'held' } | { kind: 'days'; days: number } | { kind: 'all' }

/** The repository part of the backfill (issue: beyond the relay's window). */
export type RepoConfig = {
  /** Only these repositories (DIDs or handles), instead of listing the relay's and the PDS hosts'. */
  only: string[] | null
  /** PDS base URLs whose listRepos is paged besides the relay's. */
  pdsHosts: string[]
  /** Repositories fetched at once by this instance. */
  concurrency: number
  hostConcurrency: number
  hostRatePerSecond: number
  /** The PLC directory is one host that every did:plc lookup goes to: its own rate (BACKFILL_PLC_RATE). */
  plcRatePerSecond: number
  maxCarBytes: number
  maxRecordBytes: number
  /**
   * A PDS's connect-and-headers time, and the longest its CAR may go without a byte. Not a variable: 30 s suits
   * every PDS we know; tests of a host that stalls shorten it.
   */
  requestTimeoutMs: number
  /** Allow PDS, DID and handle hosts on loopback, private and link-local addresses. */
  allowPrivateHosts: boolean
  /** com.atproto.identity.resolveHandle on this service instead of DNS and .well-known (private networks, tests). */
  handleResolverUrl: string | null
}

export type BackfillConfig = {
  /** null: off. */
  window: BackfillWindow | null
  profile: ProfileName
  throttle: ThrottleSettings
  /** Which throttle values the operator set explicitly (they override profile and governor). */
  explicit: Partial<Record<keyof ThrottleSettings, true>>
  maxCpuPercent: number
  /** The adaptive governor's budget for event-loop lateness (p99 over a second; an idle loop reads 0). */
  maxLagMs: number
  /**
   * BACKFILL_DB_NICE: the nice value (CPU priority, 1–19) the backfill pool's Postgres backends get when Postgres
   * runs on this machine, so the API's backends win the CPU; 0: left as they are.
   */
  dbNice: number
  schedule: Schedule | null
  stallTimeoutMs: number
  decoder: DecoderName
  repos: RepoConfig
}

/** How the tombstones table is kept bounded (server/indexer/tombstone-prune.ts). */
export type TombstoneConfig = {
  /** TOMBSTONE_RETENTION_HOURS: a tombstone is kept at least this long, whatever every consumer has committed. */
  retentionMs: number
  /** TOMBSTONE_PRUNE_INTERVAL_MINUTES: how often each instance prunes; null (0): never. */
  pruneIntervalMs: number | null
}

export type Config = {
  /** This process among the instances sharing the database (INSTANCE_ID, else host-pid-random). */
  instanceId: string
  port: number
  host: string
  databaseUrl: string | null
  embeddedPg: { dataDir: string; port: number }
  apiDbPoolSize: number
  relayUrl: string
  firehoseEnabled: boolean
  adminToken: string | null
  /** The DID directory: did:plc documents, for repo jobs, identity checks and the verified decoder. */
  plcUrl: string
  backfill: BackfillConfig
  /** AUDIT_SAMPLE_PER_HOUR: random repositories audited an hour in the background, spread evenly; 0: off. */
  auditSamplePerHour: number
  tombstones: TombstoneConfig
  /** Unknown BACKFILL_* variables: warned about, not fatal, so a typo is visible. */
  warnings: string[]
}

/** The variable that sets each throttle value, for parsing and for telling the operator what they set. */
export const THROTTLE_VARS: Record<keyof ThrottleSettings, string> = {
  batchSize: 'BACKFILL_BATCH_SIZE',
  batchDelayMs: 'BACKFILL_BATCH_DELAY_MS',
  maxConcurrent: 'BACKFILL_MAX_CONCURRENT',
  maxMemoryMb: 'BACKFILL_MAX_MEMORY_MB',
  useIdle: 'BACKFILL_USE_IDLE',
  dbPoolSize: 'BACKFILL_DB_POOL_SIZE',
}

const KNOWN_BACKFILL_VARS = new Set([
  'BACKFILL_DAYS',
  'BACKFILL_PROFILE',
  ...Object.values(THROTTLE_VARS),
  'BACKFILL_MAX_CPU_PERCENT',
  'BACKFILL_MAX_LAG_MS',
  'BACKFILL_DB_NICE',
  'BACKFILL_SCHEDULE',
  'BACKFILL_STALL_TIMEOUT_MS',
  'BACKFILL_DECODER',
  'BACKFILL_REPOS',
  'BACKFILL_PDS_HOSTS',
  'BACKFILL_REPO_CONCURRENCY',
  'BACKFILL_HOST_CONCURRENCY',
  'BACKFILL_HOST_RATE',
  'BACKFILL_PLC_RATE',
  'BACKFILL_MAX_CAR_MB',
])

/** Repositories fetched at once by default: one for a profile that must not be felt, more as the profile allows. */
const REPO_CONCURRENCY: Record<ProfileName, number> = { background: 1, moderate: 2, fast: 4, max: 8, adaptive: 2 }

/**
 * Accepts `wss://host`, `ws://host:port`, `https://host`, a bare `host[:port]`, or any of those ending in
 * `/xrpc/com.atproto.sync.subscribeRepos`, and returns the service base (`wss://host[:port]`).
 */
export function normalizeRelayUrl(value: string, variable = 'RELAY_URL'): string {
  const accepted = 'a host, or a ws://, wss://, http:// or https:// URL (optionally ending in /xrpc/com.atproto.sync.subscribeRepos)'
  let text = value.trim()
  if (!/^[a-z]+:\/\//i.test(text)) text = `wss://${text}`
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch {
    throw new ConfigError(variable, value, accepted)
  }
  const protocol = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' }[parsed.protocol]
  if (!protocol || !parsed.hostname || parsed.search || parsed.hash) throw new ConfigError(variable, value, accepted)
  const pathname = parsed.pathname.replace(/\/+$/, '')
  if (pathname !== '' && pathname !== '/xrpc/com.atproto.sync.subscribeRepos') {
    throw new ConfigError(variable, value, accepted)
  }
  return `${protocol}//${parsed.host}`
}

function parseWindow(env: Env): BackfillConfig['window'] {
  if (raw(env, 'BACKFILL_DAYS')?.toLowerCase() === 'all') return { kind: 'all' }
  const days = integer(env, 'BACKFILL_DAYS', -1, 3650, 'all, or an integer from -1 to 3650')
  if (days === undefined || days === 0) return null
  if (days === -1) return { kind: 'held' }
  return { kind: 'days', days }
}

function parseBackfill(env: Env): BackfillConfig {
  const profile = oneOf(env, 'BACKFILL_PROFILE', PROFILE_NAMES) ?? 'background'
  const base = PROFILES[profile]
  const explicit: BackfillConfig['explicit'] = {}
  const pick = <K extends keyof ThrottleSettings>(key: K, value: ThrottleSettings[K] | undefined) => {
    if (value === undefined) return base[key]
    explicit[key] = true
    return value
  }
  const throttle: ThrottleSettings = {
    batchSize: pick('batchSize', integer(env, THROTTLE_VARS.batchSize, 1, 10000)),
    batchDelayMs: pick('batchDelayMs', integer(env, THROTTLE_VARS.batchDelayMs, 0, 600000)),
    maxConcurrent: pick('maxConcurrent', integer(env, THROTTLE_VARS.maxConcurrent, 1, 64)),
    maxMemoryMb: pick('maxMemoryMb', integer(env, THROTTLE_VARS.maxMemoryMb, 64, 1048576)),
    useIdle: pick('useIdle', boolean(env, THROTTLE_VARS.useIdle)),
    dbPoolSize: pick('dbPoolSize', integer(env, THROTTLE_VARS.dbPoolSize, 1, 100)),
  }
  const scheduleText = raw(env, 'BACKFILL_SCHEDULE')
  return {
    window: parseWindow(env),
    profile,
    throttle,
    explicit,
    maxCpuPercent: integer(env, 'BACKFILL_MAX_CPU_PERCENT', 1, 800) ?? 15,
    maxLagMs: integer(env, 'BACKFILL_MAX_LAG_MS', 1, 10000) ?? 10,
    dbNice: integer(env, 'BACKFILL_DB_NICE', 0, 19) ?? 10,
    schedule: scheduleText === undefined ? null : parseSchedule(scheduleText),
    stallTimeoutMs: integer(env, 'BACKFILL_STALL_TIMEOUT_MS', 1000, 3600000) ?? 60000,
    decoder: oneOf(env, 'BACKFILL_DECODER', DECODERS) ?? 'lean',
    repos: parseRepos(env, profile),
  }
}

function parseRepos(env: Env, profile: ProfileName): RepoConfig {
  const handleResolver = url(env, 'HANDLE_RESOLVER_URL', ['http:', 'https:'])
  const hostRate = number(env, 'BACKFILL_HOST_RATE', 0.01, 1000) ?? DEFAULT_HOST_LIMITS.ratePerSecond
  return {
    only: list(env, 'BACKFILL_REPOS', repoIdentifier, 'DIDs (did:plc:…, did:web:…) or handles, separated by commas') ?? null,
    pdsHosts: list(env, 'BACKFILL_PDS_HOSTS', pdsHost, 'PDS hosts or http(s):// URLs, separated by commas') ?? [],
    concurrency: integer(env, 'BACKFILL_REPO_CONCURRENCY', 1, 256) ?? REPO_CONCURRENCY[profile],
    hostConcurrency: integer(env, 'BACKFILL_HOST_CONCURRENCY', 1, 64) ?? DEFAULT_HOST_LIMITS.concurrency,
    hostRatePerSecond: hostRate,
    plcRatePerSecond: number(env, 'BACKFILL_PLC_RATE', 0.01, 10000) ?? hostRate,
    maxCarBytes: (integer(env, 'BACKFILL_MAX_CAR_MB', 1, 65536) ?? 1024) * 1024 * 1024,
    maxRecordBytes: 1024 * 1024,
    requestTimeoutMs: 30_000,
    allowPrivateHosts: boolean(env, 'ALLOW_PRIVATE_HOSTS') ?? false,
    handleResolverUrl: handleResolver ? handleResolver.toString().replace(/\/$/, '') : null,
  }
}

/** A DID or a handle, lower-cased handles; null when it is neither. */
function repoIdentifier(item: string): string | null {
  if (/^did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9.%:-]+)$/.test(item)) return item
  return isValidHandle(item) ? item.toLowerCase() : null
}

/** A PDS as an http(s) base URL; a bare host means https. */
function pdsHost(item: string): string | null {
  try {
    const u = new URL(/^https?:\/\//i.test(item) ? item : `https://${item}`)
    if (!['http:', 'https:'].includes(u.protocol) || !u.hostname || u.search || u.hash || u.pathname.replace(/\/+$/, '') !== '') return null
    return `${u.protocol}//${u.host}`
  } catch {
    return null
  }
}

function parseTombstones(env: Env): TombstoneConfig {
  const minutes = integer(env, 'TOMBSTONE_PRUNE_INTERVAL_MINUTES', 0, 1440) ?? 10
  return {
    retentionMs: (integer(env, 'TOMBSTONE_RETENTION_HOURS', 1, 87600) ?? 24) * 3_600_000,
    pruneIntervalMs: minutes === 0 ? null : minutes * 60_000,
  }
}

export function parseConfig(env: Env, cwd = process.cwd()): Config {
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:'])
  const adminToken = raw(env, 'ADMIN_TOKEN') ?? null
  if (adminToken !== null && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN', '(hidden)', 'at least 16 characters')
  }
  const relay = raw(env, 'RELAY_URL')
  const warnings = Object.keys(env)
    .filter((name) => name.startsWith('BACKFILL_') && !KNOWN_BACKFILL_VARS.has(name))
    .map((name) => `unknown variable ${name} is ignored (known: ${[...KNOWN_BACKFILL_VARS].join(', ')})`)
  return {
    instanceId: parseInstanceId(env),
    port: integer(env, 'PORT', 1, 65535) ?? 5000,
    host: raw(env, 'HOST') ?? '0.0.0.0',
    databaseUrl: databaseUrl ? databaseUrl.toString() : null,
    embeddedPg: {
      dataDir: path.resolve(cwd, raw(env, 'PG_DATA_DIR') ?? 'data/postgres'),
      port: integer(env, 'PG_PORT', 1024, 65535) ?? 5433,
    },
    apiDbPoolSize: integer(env, 'API_DB_POOL_SIZE', 1, 100) ?? 10,
    relayUrl: relay === undefined ? 'wss://bsky.network' : normalizeRelayUrl(relay),
    firehoseEnabled: boolean(env, 'FIREHOSE_ENABLED') ?? true,
    adminToken,
    plcUrl: (url(env, 'PLC_URL', ['http:', 'https:'])?.toString() ?? 'https://plc.directory').replace(/\/$/, ''),
    backfill: parseBackfill(env),
    auditSamplePerHour: integer(env, 'AUDIT_SAMPLE_PER_HOUR', 0, 100000) ?? 0,
    tombstones: parseTombstones(env),
    warnings,
  }
}
