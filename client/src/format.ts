// Formatting for the dashboard. Pure functions: the tests and the page agree on what a value looks like.

export const DASH = '—'

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })

/** 1234567 → "1,234,567"; null → "—". */
export function count(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? integer.format(value) : DASH
}

/** A rate or a percentage with one decimal: 12.34 → "12.3". */
export function decimal(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? oneDecimal.format(value) : DASH
}

export function percent(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${oneDecimal.format(value)}%` : DASH
}

/** Seconds as "45s", "12m05s", "3h07m", "2d04h". */
export function duration(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return DASH
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`
}

/** An ISO time as "2025-01-02 03:04:05 UTC" (servers and their logs speak UTC). */
export function utc(iso: string | null | undefined): string {
  if (!iso) return DASH
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return iso
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

/** "3h07m ago" / "in 5m00s" relative to now. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return ''
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return ''
  const diff = (now - ms) / 1000
  return diff >= 0 ? `${duration(diff)} ago` : `in ${duration(-diff)}`
}

export function mb(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${integer.format(value)} MB` : DASH
}

export function ms(value: number | null | undefined): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return DASH
  return value >= 100 ? `${integer.format(value)} ms` : `${value.toFixed(value >= 10 ? 1 : 2)} ms`
}

/** A round upper bound for a chart axis: 0.8 → 1, 7 → 10, 130 → 200, 4200 → 5000. */
export function niceCeiling(value: number): number {
  if (!Number.isFinite(value) || value <= 1) return 1
  const magnitude = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude
  return 10 * magnitude
}
