// Quantities in words, as the log and the dashboard print them.
import { describe, expect, it } from 'vitest'
import { formatSpan, plural } from '../../../server/services/format.js'

describe('plural', () => {
  it('says "1 day" and "3 days"', () => {
    expect(plural(1, 'day')).toBe('1 day')
    expect(plural(3, 'day')).toBe('3 days')
    expect(plural(0, 'day')).toBe('0 days')
  })
})

describe('formatSpan', () => {
  it('says seconds, then minutes, then hours, then days, never "0.0 hours"', () => {
    expect(formatSpan(0)).toBe('0 seconds')
    expect(formatSpan(1_000)).toBe('1 second')
    expect(formatSpan(40_000)).toBe('40 seconds')
    expect(formatSpan(12 * 60_000)).toBe('12 minutes')
    expect(formatSpan(71.8 * 3_600_000)).toBe('71.8 hours')
    expect(formatSpan(5.2 * 86_400_000)).toBe('5.2 days')
  })
})
