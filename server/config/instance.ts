// Who this process is among the instances sharing one database: shown in logs and status, and named on the
// connections that hold shared work. Chosen automatically so that no set-up is needed to add a machine; the pid and a
// random suffix keep two processes on one host (or a restarted one) apart. INSTANCE_ID overrides it.
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { ConfigError, raw, type Env } from './parse.js'

export const INSTANCE_ID_MAX = 64
const INSTANCE_ID = /^[A-Za-z0-9._-]+$/

/** `host-pid-random`, the host cut and cleaned so the id stays within the INSTANCE_ID rules. */
export function automaticInstanceId(hostname: string, pid: number, suffix: string): string {
  const tail = `-${pid}-${suffix}`
  const host = hostname.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, INSTANCE_ID_MAX - tail.length) || 'host'
  return `${host}${tail}`
}

export function parseInstanceId(env: Env): string {
  const value = raw(env, 'INSTANCE_ID')
  if (value === undefined) return automaticInstanceId(os.hostname(), process.pid, randomBytes(3).toString('hex'))
  if (value.length > INSTANCE_ID_MAX || !INSTANCE_ID.test(value)) {
    throw new ConfigError('INSTANCE_ID', env.INSTANCE_ID ?? '', `1 to ${INSTANCE_ID_MAX} characters of A-Z a-z 0-9 . _ -`)
  }
  return value
}
