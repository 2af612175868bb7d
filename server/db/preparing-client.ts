// The API runs a small, fixed set of query texts many times a second, and planning one of them can cost more than
// running it: getProfile's counts on the bench's million-event database took about 2 ms to plan and under 1 ms to
// execute once prepared. So each connection of the API's pool prepares every parameterised text once, under a name
// derived from the text, and Postgres reuses the plan (switching to a generic plan only once one costs no more than
// the custom plans it made for the first executions).
import { createHash } from 'node:crypto'
import pg from 'pg'

/**
 * How many texts one connection prepares at most. The API's texts are a few dozen; the cap only keeps a text built
 * from data by some later change from growing every connection's statement cache without bound.
 */
export const MAX_PREPARED_PER_CONNECTION = 200

/** The statement name for a query text: the same on every connection, under Postgres's 63-byte name limit. */
export function statementName(text: string): string {
  return `skyfill_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
}

export class PreparingClient extends pg.Client {
  readonly #prepared = new Set<string>()

  // pg's overloads all pass (text | config, values?, callback?); only a text with parameters is prepared, so
  // transaction control, SET and other parameterless statements run as they are.
  override query(...args: any[]): any {
    const [text, values, ...rest] = args
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0) return super.query(...(args as [string]))
    const name = statementName(text)
    if (!this.#prepared.has(name)) {
      if (this.#prepared.size >= MAX_PREPARED_PER_CONNECTION) return super.query(...(args as [string]))
      this.#prepared.add(name)
    }
    return super.query({ name, text, values }, ...rest)
  }
}
