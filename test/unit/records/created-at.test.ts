import { afterEach, describe, expect, it } from 'vitest'
import { like } from '../../../server/indexer/records/like.js'
import { profile } from '../../../server/indexer/records/profile.js'
import { validateRecord } from '../../../server/indexer/validate.js'
import { SAMPLES, createOp, rejectionOf } from './fixtures.js'

const LIKE = 'app.bsky.feed.like'

function likeAt(createdAt: string) {
  return createOp(LIKE, { ...SAMPLES[LIKE], createdAt })
}

describe('created_at', () => {
  const zone = process.env.TZ
  afterEach(() => {
    process.env.TZ = zone
  })

  it('is normalized to UTC with milliseconds', () => {
    expect(like.toRow(likeAt('2024-10-15T11:30:00+02:00')).created_at).toBe('2024-10-15T09:30:00.000Z')
  })

  it('keeps sub-millisecond input to millisecond precision', () => {
    expect(like.toRow(likeAt('2024-10-15T09:30:00.123456Z')).created_at).toBe('2024-10-15T09:30:00.123Z')
  })

  it('reads a datetime without a zone, which the lexicon accepts, as UTC whatever the server zone', () => {
    process.env.TZ = 'America/New_York'
    expect(validateRecord(LIKE, likeAt('2024-10-15T09:30:00').record)).toEqual({ ok: true })
    expect(like.toRow(likeAt('2024-10-15T09:30:00')).created_at).toBe('2024-10-15T09:30:00.000Z')
  })

  it('is null for a profile that has none', () => {
    const op = createOp('app.bsky.actor.profile', { $type: 'app.bsky.actor.profile' }, 'self')
    expect(profile.toRow(op).created_at).toBeNull()
  })

  it('is required for a like', () => {
    const op = createOp(LIKE, { $type: LIKE, subject: SAMPLES[LIKE].subject })
    expect(rejectionOf(() => like.toRow(op))).toBe('record field createdAt is missing')
  })

  const OUT_OF_RANGE = 'record field createdAt is outside years 1..9999 in UTC'
  const UNPARSEABLE = 'record field createdAt is not a date that can be parsed'
  it.each([
    ['year 0, which Postgres has no room for', '0000-06-01T00:00:00Z', OUT_OF_RANGE],
    ['year 1 pushed into year 0 by its offset', '0001-01-01T00:30:00+01:00', OUT_OF_RANGE],
    ['year 9999 pushed into year 10000 by its offset', '9999-12-31T23:00:00-05:00', OUT_OF_RANGE],
    ['a leap second, which Date cannot parse', '2016-12-31T23:59:60Z', UNPARSEABLE],
    ['ISO basic format, which Date cannot parse', '20241015T093000Z', UNPARSEABLE],
  ])('rejects %s although the lexicon accepts it', (_, createdAt, reason) => {
    const op = likeAt(createdAt)
    expect(validateRecord(LIKE, op.record)).toEqual({ ok: true })
    expect(rejectionOf(() => like.toRow(op))).toBe(reason)
  })
})
