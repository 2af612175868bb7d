// Keyset pagination. A cursor names the last item a page returned by its sort key (a timestamp, to the
// microsecond, as Postgres prints it) and its URI as the tie-breaker. The next page continues strictly after that
// pair, so items inserted meanwhile never shift a page: nothing is repeated and nothing older is skipped.
//
// Every list is ordered `ts DESC, uri ASC`, which is the order the (did|subject, created_at DESC, uri) indexes give.
// The opaque form is base64url of a JSON pair; clients must not look inside.
import { invalidRequest, optionalString, type Query } from '../params.js'

export type Keyset = { at: string; uri: string }

/** SQL for a sort key column as text with microseconds, e.g. 2026-01-02T03:04:05.123456Z (a constant, never input). */
export function sortKeySql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

/**
 * The WHERE fragment that continues after a cursor: `$at`/`$uri` are the parameter numbers holding the keyset (both
 * NULL for the first page). The first conjunct is there for the planner: it is a plain range on the timestamp, so
 * the (…, created_at DESC, …) index starts at the cursor instead of filtering every newer row of a deep page.
 */
export function afterCursorSql(tsColumn: string, uriColumn: string, at: number, uri: number): string {
  return (
    `${tsColumn} <= coalesce($${at}::timestamptz, 'infinity') AND ` +
    `($${at}::timestamptz IS NULL OR ${tsColumn} < $${at}::timestamptz OR (${tsColumn} = $${at}::timestamptz AND ${uriColumn} > $${uri}::text))`
  )
}

export function encodeCursor(key: Keyset): string {
  return Buffer.from(JSON.stringify([key.at, key.uri])).toString('base64url')
}

const KEY_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/

export function cursorParam(query: Query): Keyset | null {
  const text = optionalString(query, 'cursor', 4096)
  if (text === undefined || text === '') return null
  const bad = () => invalidRequest('cursor is not a cursor this server returned')
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    throw bad()
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw bad()
  const [at, uri] = parsed as unknown[]
  if (typeof at !== 'string' || typeof uri !== 'string' || !uri.startsWith('at://') || uri.length > 8192) throw bad()
  const m = KEY_TIME.exec(at)
  if (!m) throw bad()
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  // setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second)
  // A date Postgres would refuse (month 13, 31 February) is refused here, as a bad cursor rather than a 500.
  if (
    year < 1 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw bad()
  }
  return { at, uri }
}

/** The page's cursor: the last row's key when the page is full (there may be more), else none. */
export function nextCursor(rows: { sort_key: string; uri: string }[], limit: number): string | undefined {
  if (rows.length < limit) return undefined
  const last = rows[rows.length - 1]!
  return encodeCursor({ at: last.sort_key, uri: last.uri })
}
