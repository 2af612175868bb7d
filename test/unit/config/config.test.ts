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
    ['BACKFILL_DAYS', '-2', 'BACKFILL_DAYS must be an integer from -1 to 3650, got "-2"'],
    ['BACKFILL_DAYS', '1.5', 'BACKFILL_DAYS must be an integer from -1 to 3650, got "1.5"'],
    ['BACKFILL_USE_IDLE', 'maybe', 'BACKFILL_USE_IDLE must be true or false (also 1/0, yes/no, on/off), got "maybe"'],
    ['BACKFILL_PROFILE', 'turbo', 'BACKFILL_PROFILE must be one of background, moderate, fast, max, adaptive, got "turbo"'],
    ['PORT', '70000', 'PORT must be an integer from 1 to 65535, got "70000"'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL must be a URL starting with postgres:// or postgresql://, got "mysql://x"'],
    ['BACKFILL_MAX_MEMORY_MB', '12', 'BACKFILL_MAX_MEMORY_MB must be an integer from 64 to 1048576, got "12"'],
    ['INSTANCE_ID', 'box one', 'INSTANCE_ID must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got "box one"'],
    ['INSTANCE_ID', 'x'.repeat(65), `INSTANCE_ID must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got "${'x'.repeat(65)}"`],
  ])('stops on %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => parseConfig({ [name]: value })).toThrow(new ConfigError(name, value, '').constructor)
    expect(() => parseConfig({ [name]: value })).toThrow(message)
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
