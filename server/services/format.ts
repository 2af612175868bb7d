// Quantities in words for log lines and the dashboard alike (pure, no I/O), so both say "1 day" and "40 seconds",
// never "1 days" or "0.0 hours".

/** 1 → "1 day", 3 → "3 days". */
export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}

/** A span of time in the unit that reads best: "40 seconds", "12 minutes", "71.8 hours", "5.2 days". */
export function formatSpan(ms: number): string {
  const seconds = Math.max(0, ms) / 1000
  if (seconds < 90) return plural(Math.round(seconds), 'second')
  if (seconds < 90 * 60) return plural(Math.round(seconds / 60), 'minute')
  // Hours up to four days: relays keep about 72 hours, which reads better as "71.8 hours" than "3.0 days".
  if (seconds < 96 * 3600) return `${(seconds / 3600).toFixed(1)} hours`
  return `${(seconds / 86400).toFixed(1)} days`
}
