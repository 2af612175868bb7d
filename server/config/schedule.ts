// BACKFILL_SCHEDULE: throttle profiles by local time of day, e.g. `22:00-06:00=fast,*=background`.
// Rules are tried in order; a range may wrap past midnight; `*` matches any time and must come last.
import { ConfigError } from './parse.js'
import { PROFILE_NAMES, type ProfileName } from './profiles.js'

export type ScheduleRule = { fromMinute: number; toMinute: number; profile: ProfileName } | { any: true; profile: ProfileName }
export type Schedule = ScheduleRule[]

const ACCEPTED =
  'comma-separated rules HH:MM-HH:MM=profile ending with *=profile, profiles ' + PROFILE_NAMES.join('|')

function minuteOfDay(text: string, variable: string, value: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text)
  if (!m) throw new ConfigError(variable, value, ACCEPTED)
  const hours = Number(m[1])
  const minutes = Number(m[2])
  if (hours > 23 || minutes > 59) throw new ConfigError(variable, value, ACCEPTED)
  return hours * 60 + minutes
}

export function parseSchedule(value: string, variable = 'BACKFILL_SCHEDULE'): Schedule {
  const rules: Schedule = []
  for (const part of value.split(',').map((p) => p.trim())) {
    const [when, profileText, extra] = part.split('=').map((p) => p?.trim())
    if (!when || !profileText || extra !== undefined) throw new ConfigError(variable, value, ACCEPTED)
    const profile = PROFILE_NAMES.find((p) => p === profileText.toLowerCase())
    if (!profile) throw new ConfigError(variable, value, ACCEPTED)
    if (rules.some((r) => 'any' in r)) throw new ConfigError(variable, value, ACCEPTED)
    if (when === '*') {
      rules.push({ any: true, profile })
      continue
    }
    const [from, to, more] = when.split('-')
    if (!from || !to || more !== undefined) throw new ConfigError(variable, value, ACCEPTED)
    const fromMinute = minuteOfDay(from, variable, value)
    const toMinute = minuteOfDay(to, variable, value)
    if (fromMinute === toMinute) throw new ConfigError(variable, value, ACCEPTED)
    rules.push({ fromMinute, toMinute, profile })
  }
  if (!rules.some((r) => 'any' in r)) throw new ConfigError(variable, value, ACCEPTED)
  return rules
}

/** The profile the schedule names for a local time; `date` is read with its local hours and minutes. */
export function profileAt(schedule: Schedule, date: Date): ProfileName {
  const minute = date.getHours() * 60 + date.getMinutes()
  for (const rule of schedule) {
    if ('any' in rule) return rule.profile
    const inside =
      rule.fromMinute < rule.toMinute
        ? minute >= rule.fromMinute && minute < rule.toMinute
        : minute >= rule.fromMinute || minute < rule.toMinute
    if (inside) return rule.profile
  }
  // parseSchedule guarantees a trailing `*` rule
  throw new Error('schedule without a catch-all rule')
}
