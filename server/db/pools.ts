// Separate pools so the backfill can never take the connections the API needs (invariant 6). Each pool names
// itself in application_name, which is how tests and operators see who holds which connection.
import pg from 'pg'
import { PreparingClient } from './preparing-client.js'

export type PoolRole = 'api' | 'backfill' | 'firehose' | 'identity' | 'repos' | 'audit' | 'coordination' | 'maintenance' | 'admin'

const OPTIONS: Record<PoolRole, string | undefined> = {
  // A read that runs away must not hold an API connection (and a request) for minutes.
  api: '-c statement_timeout=10000',
  // The writers commit the cursor in the same transaction as the rows it covers, so losing the last few commits in
  // an OS crash only means replaying them: durability per commit buys nothing there.
  backfill: '-c synchronous_commit=off',
  firehose: '-c synchronous_commit=off',
  // An identity result lost in a crash is only resolved again: the claim's lease runs out and it is due once more.
  identity: '-c synchronous_commit=off',
  // The repository work's bookkeeping (job claims and leases, listings, positions, counts): small statements kept
  // off the backfill's pool, whose connections are the writes BACKFILL_MAX_CONCURRENT bounds.
  repos: '-c synchronous_commit=off',
  // The audit reads a page of one repository's rows at a time (and a repair removes a few rows): never for minutes.
  audit: '-c statement_timeout=60000',
  // Instances' heartbeats and the replay ranges' claims, leases and summaries: small statements kept off the
  // backfill's pool, whose operations BACKFILL_MAX_CONCURRENT counts (invariant 5).
  coordination: '-c statement_timeout=10000',
  // Pruning tombstones: a chunk at a time, off every pool that serves the API or counts as the backfill's.
  maintenance: '-c statement_timeout=60000',
  admin: undefined,
}

export function createPool(databaseUrl: string, role: PoolRole, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    application_name: `skyfill-${role}`,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    options: OPTIONS[role],
    // The API's queries are few texts run very often: each of its connections prepares them (preparing-client.ts).
    ...(role === 'api' ? { Client: PreparingClient } : {}),
  })
  // An idle client's connection dying (database restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  // Nor may a checked-out one's (pool.connect(): the writer's transactions, /api/stats): pg emits 'error' on the
  // client itself when its connection ends unexpectedly, and pg-pool listens only while the client is idle. The
  // query in flight fails anyway (and a later one with "not queryable"), which callers treat as the database being
  // unavailable and release the client as broken.
  pool.on('connect', (client) => {
    client.on('error', () => {})
  })
  return pool
}
