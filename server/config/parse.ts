// Small, strict parsers for environment values. Every error names the variable, the value and what is accepted,
// because the message is the only thing an operator sees when start-up stops.

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string,
    readonly accepted: string,
  ) {
    super(`${variable} must be ${accepted}, got ${JSON.stringify(value)}`)
    this.name = 'ConfigError'
  }
}

export type Env = Record<string, string | undefined>

/** The raw value, or undefined when the variable is unset or blank. */
export function raw(env: Env, name: string): string | undefined {
  const value = env[name]
  if (value === undefined) return undefined
  const trimmed = value.trim()
  return trimmed === '' ? undefined : trimmed
}

export function integer(env: Env, name: string, min: number, max: number, accepted = `an integer from ${min} to ${max}`): number | undefined {
  const value = raw(env, name)
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value)) throw new ConfigError(name, env[name] ?? '', accepted)
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(name, env[name] ?? '', accepted)
  return n
}

export function number(env: Env, name: string, min: number, max: number): number | undefined {
  const value = raw(env, name)
  if (value === undefined) return undefined
  const accepted = `a number from ${min} to ${max}`
  if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(name, env[name] ?? '', accepted)
  const n = Number(value)
  if (n < min || n > max) throw new ConfigError(name, env[name] ?? '', accepted)
  return n
}

/** A comma-separated list, each item checked by `item` (null: not accepted); undefined when unset. */
export function list(env: Env, name: string, item: (text: string) => string | null, accepted: string): string[] | undefined {
  const value = raw(env, name)
  if (value === undefined) return undefined
  const items = value.split(',').map((x) => x.trim()).filter((x) => x !== '')
  const bad = items.find((x) => item(x) === null)
  if (bad !== undefined || items.length === 0) {
    throw new ConfigError(name, env[name] ?? '', `${accepted}${bad === undefined ? '' : ` (not one: ${JSON.stringify(bad)})`}`)
  }
  return [...new Set(items.map((x) => item(x)!))]
}

export function boolean(env: Env, name: string): boolean | undefined {
  const value = raw(env, name)
  if (value === undefined) return undefined
  const lower = value.toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(lower)) return true
  if (['false', '0', 'no', 'off'].includes(lower)) return false
  throw new ConfigError(name, env[name] ?? '', 'true or false (also 1/0, yes/no, on/off)')
}

export function oneOf<T extends string>(env: Env, name: string, choices: readonly T[]): T | undefined {
  const value = raw(env, name)
  if (value === undefined) return undefined
  const found = choices.find((c) => c === value.toLowerCase())
  if (!found) throw new ConfigError(name, env[name] ?? '', `one of ${choices.join(', ')}`)
  return found
}

export function url(env: Env, name: string, protocols: readonly string[]): URL | undefined {
  const value = raw(env, name)
  if (value === undefined) return undefined
  const accepted = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    throw new ConfigError(name, value, accepted)
  }
  if (!protocols.includes(parsed.protocol) || !parsed.hostname) throw new ConfigError(name, value, accepted)
  return parsed
}
