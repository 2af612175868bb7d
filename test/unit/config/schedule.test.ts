import { describe, expect, it } from 'vitest'
import { parseSchedule, profileAt } from '../../../server/config/schedule.js'

const at = (hh: number, mm: number) => new Date(2026, 10, 30, hh, mm)

describe('BACKFILL_SCHEDULE', () => {
  it('picks the first rule whose range holds the local time, wrapping past midnight', () => {
    const s = parseSchedule('22:00-06:00=fast,12:00-13:00=moderate,*=background')
    expect(profileAt(s, at(23, 30))).toBe('fast')
    expect(profileAt(s, at(5, 59))).toBe('fast')
    expect(profileAt(s, at(6, 0))).toBe('background')
    expect(profileAt(s, at(12, 30))).toBe('moderate')
    expect(profileAt(s, at(13, 0))).toBe('background')
  })

  it.each(['22:00-06:00=fast', '25:00-06:00=fast,*=background', '22:00=fast,*=background', '*=background,22:00-06:00=fast', '22:00-06:00=warp,*=background', '10:00-10:00=fast,*=max'])(
    'rejects %s with a message naming the variable',
    (value) => {
      expect(() => parseSchedule(value)).toThrow(/^BACKFILL_SCHEDULE must be/)
    },
  )
})
