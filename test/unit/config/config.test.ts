import { describe, expect, it } from 'vitest'
import { ConfigError, normalizeRelayUrl, parseConfig } from '../../../server/config/index.js'
import { PROFILES } from '../../../server/config/profiles.js'
import { automaticInstanceId } from '../../../server/config/instance.js'

describe('configuration', () => {
  it('defaults to port 5000, the public relay, the background profile and backfill off', () => {
    const c = parseConfig({})
    expect(c.port).toBe(5000)
    expect(c.relayUrl).toBe('wss://bsky.network')
    expect(c.backfill.window).toBeNull()
    expect(c.backfill.profile).toBe('background')
    expect(c.backfill.throttle).toEqual({ batchSize: 5, batchDelayMs: 2000, maxConcurrent: 2, maxMemoryMb: 512, useIdle: true, dbPoolSize: 2 })
    expect(c.firehoseEnabled).toBe(true)
    expect(c.databaseUrl).toBeNull()
  })

  it('reads BACKFILL_DAYS as off (0), everything (-1) or a number of days', () => {
    expect(parseConfig({ BACKFILL_DAYS: '0' }).backfill.window).toBeNull()
    expect(parseConfig({ BACKFILL_DAYS: '-1' }).backfill.window).toEqual({ kind: 'held' })
    expect(parseConfig({ BACKFILL_DAYS: '7' }).backfill.window).toEqual({ kind: 'days', days: 7 })
  })

  it('applies a profile and lets an explicit variable override one of its values', () => {
    const c = parseConfig({ BACKFILL_PROFILE: 'moderate', BACKFILL_BATCH_SIZE: '33' })
    expect(c.backfill.throttle).toEqual({ ...PROFILES.moderate, batchSize: 33 })
    expect(c.backfill.explicit).toEqual({ batchSize: true })
  })

  it('documents the three user profiles with the promised values', () => {
    expect(PROFILES.moderate).toEqual({ batchSize: 20, batchDelayMs: 1000, maxConcurrent: 5, maxMemoryMb: 1024, useIdle: true, dbPoolSize: 3 })
    expect(PROFILES.fast).toEqual({ batchSize: 50, batchDelayMs: 500, maxConcurrent: 10, maxMemoryMb: 2048, useIdle: false, dbPoolSize: 5 })
  })

  it.each([
    ['BACKFILL_BATCH_SIZE', 'abc', 'BACKFILL_BATCH_SIZE must be an integer from 1 to 10000, got "abc"'],
    ['BACKFILL_BATCH_SIZE', '0', 'BACKFILL_BATCH_SIZE must be an integer from 1 to 10000, got "0"'],
    ['BACKFILL_DAYS', '-2', 'BACKFILL_DAYS must be all, or an integer from -1 to 3650, got "-2"'],
    ['BACKFILL_DAYS', '1.5', 'BACKFILL_DAYS must be all, or an integer from -1 to 3650, got "1.5"'],
    ['BACKFILL_USE_IDLE', 'maybe', 'BACKFILL_USE_IDLE must be true or false (also 1/0, yes/no, on/off), got "maybe"'],
    ['BACKFILL_PROFILE', 'turbo', 'BACKFILL_PROFILE must be one of background, moderate, fast, max, adaptive, got "turbo"'],
    ['PORT', '70000', 'PORT must be an integer from 1 to 65535, got "70000"'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a URL starting with postgres:// or postgresql://, got "mysql://x"'],
    ['BACKFILL_MAX_MEMORY_MB', '12', 'BACKFILL_MAX_MEMORY_MB must be an integer from 64 to 1048576, got "12"'],
    ['BACKFILL_DB_NICE', '20', 'BACKFILL_DB_NICE must be an integer from 0 to 19, got "20"'],
    ['INSTANCE_ID', 'box one', 'INSTANCE_ID must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got "box one"'],
    ['INSTANCE_ID', 'x'.repeat(65), `INSTANCE_ID must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got "${'x'.repeat(65)}"`],
  ])('stops on %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => parseConfig({ [name]: value })).toThrow(new ConfigError(name, value, '').constructor)
    expect(() => parseConfig({ [name]: value })).toThrow(message)
  })

  it("lowers the backfill's Postgres backends to nice 10 unless BACKFILL_DB_NICE says otherwise (0: left alone)", () => {
    expect([{}, { BACKFILL_DB_NICE: '0' }, { BACKFILL_DB_NICE: '19' }].map((env) => parseConfig(env).backfill.dbNice)).toEqual([10, 0, 19])
  })

  it('warns about an unknown BACKFILL_ variable instead of ignoring it silently', () => {
    const c = parseConfig({ BACKFILL_BATCHSIZE: '10' })
    expect(c.warnings).toHaveLength(1)
    expect(c.warnings[0]).toMatch(/BACKFILL_BATCHSIZE/)
  })

  it('accepts a relay as a bare host, a URL, or the full subscribeRepos endpoint', () => {
    expect(normalizeRelayUrl('bsky.network')).toBe('wss://bsky.network')
    expect(normalizeRelayUrl('wss://bsky.network/')).toBe('wss://bsky.network')
    expect(normalizeRelayUrl('https://relay.example.com/xrpc/com.atproto.sync.subscribeRepos')).toBe('wss://relay.example.com')
    expect(normalizeRelayUrl('http://127.0.0.1:2583')).toBe('ws://127.0.0.1:2583')
    expect(() => normalizeRelayUrl('ftp://x')).toThrow(/RELAY_URL/)
    expect(() => normalizeRelayUrl('wss://host/other/path')).toThrow(/RELAY_URL/)
  })

  it('names the instance host-pid-random unless INSTANCE_ID says otherwise, and two processes differ', () => {
    expect(parseConfig({ INSTANCE_ID: 'indexer-2.eu' }).instanceId).toBe('indexer-2.eu')
    const auto = parseConfig({}).instanceId
    expect(auto).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{6}$`))
    expect(parseConfig({}).instanceId).not.toBe(auto)
    expect(automaticInstanceId('my host.example', 12, 'abcdef')).toBe('my-host.example-12-abcdef')
    const long = automaticInstanceId('h'.repeat(100), 4194304, 'abcdef')
    expect(long).toHaveLength(64)
    expect(long.endsWith('-4194304-abcdef')).toBe(true)
  })
})

describe('the repository part of the configuration', () => {
  it('reads BACKFILL_DAYS=all as every record of every repository', () => {
    expect(parseConfig({ BACKFILL_DAYS: 'all' }).backfill.window).toEqual({ kind: 'all' })
    expect(parseConfig({ BACKFILL_DAYS: 'ALL' }).backfill.window).toEqual({ kind: 'all' })
    expect(() => parseConfig({ BACKFILL_DAYS: 'most' })).toThrow('BACKFILL_DAYS must be all, or an integer from -1 to 3650, got "most"')
  })

  it('defaults to no repository filter, polite host limits and a profile-sized repo concurrency', () => {
    const r = parseConfig({}).backfill.repos
    expect(r).toMatchObject({ only: null, pdsHosts: [], concurrency: 1, hostConcurrency: 2, hostRatePerSecond: 5, allowPrivateHosts: false })
    expect(r.maxCarBytes).toBe(1024 * 1024 * 1024)
    expect(parseConfig({ BACKFILL_PROFILE: 'max' }).backfill.repos.concurrency).toBe(8)
    expect(parseConfig({ BACKFILL_PROFILE: 'max', BACKFILL_REPO_CONCURRENCY: '3' }).backfill.repos.concurrency).toBe(3)
  })

  it('reads BACKFILL_REPOS as DIDs and handles, and names a bad entry', () => {
    expect(parseConfig({ BACKFILL_REPOS: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz, Alice.Example.com' }).backfill.repos.only).toEqual([
      'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
      'alice.example.com',
    ])
    expect(() => parseConfig({ BACKFILL_REPOS: 'did:plc:short,@bob' })).toThrow(/^BACKFILL_REPOS must be DIDs .* \(not one: "did:plc:short"\)/)
  })

  it('reads BACKFILL_PDS_HOSTS as base URLs, https for a bare host', () => {
    expect(parseConfig({ BACKFILL_PDS_HOSTS: 'pds.example.com,http://127.0.0.1:2583/' }).backfill.repos.pdsHosts).toEqual([
      'https://pds.example.com',
      'http://127.0.0.1:2583',
    ])
    expect(() => parseConfig({ BACKFILL_PDS_HOSTS: 'ftp://x.example' })).toThrow(/^BACKFILL_PDS_HOSTS must be PDS hosts/)
  })

  it('checks the host limits, the CAR cap and the private-host switch', () => {
    expect(parseConfig({ BACKFILL_HOST_RATE: '0.5' }).backfill.repos.hostRatePerSecond).toBe(0.5)
    expect(parseConfig({ BACKFILL_HOST_RATE: '0.5' }).backfill.repos.plcRatePerSecond).toBe(0.5)
    expect(parseConfig({ BACKFILL_PLC_RATE: '50' }).backfill.repos.plcRatePerSecond).toBe(50)
    expect(() => parseConfig({ BACKFILL_HOST_RATE: 'fast' })).toThrow('BACKFILL_HOST_RATE must be a number from 0.01 to 1000, got "fast"')
    expect(() => parseConfig({ BACKFILL_HOST_CONCURRENCY: '0' })).toThrow(/^BACKFILL_HOST_CONCURRENCY must be an integer from 1 to 64/)
    expect(parseConfig({ BACKFILL_MAX_CAR_MB: '10' }).backfill.repos.maxCarBytes).toBe(10 * 1024 * 1024)
    expect(parseConfig({ ALLOW_PRIVATE_HOSTS: 'true' }).backfill.repos.allowPrivateHosts).toBe(true)
    expect(parseConfig({ HANDLE_RESOLVER_URL: 'http://127.0.0.1:2583/' }).backfill.repos.handleResolverUrl).toBe('http://127.0.0.1:2583')
  })
})

describe('the background audit', () => {
  it('is off unless AUDIT_SAMPLE_PER_HOUR asks for repositories an hour, from 0 to 100000', () => {
    expect(parseConfig({}).auditSamplePerHour).toBe(0)
    expect(parseConfig({ AUDIT_SAMPLE_PER_HOUR: '12' }).auditSamplePerHour).toBe(12)
    expect(parseConfig({ AUDIT_SAMPLE_PER_HOUR: '100000' }).auditSamplePerHour).toBe(100000)
    expect(() => parseConfig({ AUDIT_SAMPLE_PER_HOUR: '100001' })).toThrow('AUDIT_SAMPLE_PER_HOUR must be an integer from 0 to 100000, got "100001"')
    expect(() => parseConfig({ AUDIT_SAMPLE_PER_HOUR: 'often' })).toThrow('AUDIT_SAMPLE_PER_HOUR must be an integer from 0 to 100000, got "often"')
    expect(() => parseConfig({ AUDIT_SAMPLE_PER_HOUR: '-1' })).toThrow(/^AUDIT_SAMPLE_PER_HOUR must be/)
  })
})

describe('tombstone pruning', () => {
  it('prunes every 10 minutes what is older than 24 hours unless told otherwise, and never at an interval of 0', () => {
    expect(parseConfig({}).tombstones).toEqual({ retentionMs: 24 * 3_600_000, pruneIntervalMs: 10 * 60_000 })
    expect(parseConfig({ TOMBSTONE_RETENTION_HOURS: '72', TOMBSTONE_PRUNE_INTERVAL_MINUTES: '1' }).tombstones).toEqual({
      retentionMs: 72 * 3_600_000,
      pruneIntervalMs: 60_000,
    })
    expect(parseConfig({ TOMBSTONE_PRUNE_INTERVAL_MINUTES: '0' }).tombstones.pruneIntervalMs).toBeNull()
  })

  it('names the variable and what it accepts when a value is out of range', () => {
    expect(() => parseConfig({ TOMBSTONE_RETENTION_HOURS: '0' })).toThrow('TOMBSTONE_RETENTION_HOURS must be an integer from 1 to 87600, got "0"')
    expect(() => parseConfig({ TOMBSTONE_RETENTION_HOURS: 'a day' })).toThrow('TOMBSTONE_RETENTION_HOURS must be an integer from 1 to 87600, got "a day"')
    expect(() => parseConfig({ TOMBSTONE_PRUNE_INTERVAL_MINUTES: '1441' })).toThrow(
      'TOMBSTONE_PRUNE_INTERVAL_MINUTES must be an integer from 0 to 1440, got "1441"',
    )
  })
})
