// Which database errors mean "the database is not reachable right now" (retry with backoff, keep the data) as
// opposed to a bug or bad data (fail loudly).
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'])

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : ''
  const message = typeof e?.message === 'string' ? e.message : ''
  return (
    NETWORK_CODES.has(code) ||
    code.startsWith('08') || // connection exception
    code.startsWith('57P') || // admin shutdown, crash shutdown, cannot connect now
    code === '53300' || // too many connections
    /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error/i.test(
      message,
    )
  )
}

/** `url` with any password replaced by `***`, fit for a log line. */
export function maskedUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable URL)'
  }
}

/**
 * The first contact with the database `setting` points to failed (unreachable, refused our login, no such
 * database): an error that names the setting and its value, password masked. Other errors are returned as they are.
 */
export function describeFirstContact(setting: string, url: string, err: unknown): unknown {
  const code = String((err as { code?: unknown } | null)?.code ?? '')
  // 28xxx: invalid authorization; 3D000: no such database.
  if (!isDatabaseUnavailable(err) && !code.startsWith('28') && code !== '3D000') return err
  const reason = err instanceof Error ? err.message : String(err)
  return new Error(`${setting} ${maskedUrl(url)}: ${reason} (check ${setting}, or unset it to use the embedded Postgres)`)
}
