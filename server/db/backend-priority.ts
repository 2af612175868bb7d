// The backfill's transactions and the API's queries run in Postgres backends that share the cores when Postgres runs
// on this machine (the embedded one, or any reached over loopback). Lowering the CPU priority (raising the nice
// value) of the backfill pool's own backends lets the API's backends win the CPU whenever both are runnable, and
// costs the backfill nothing while a core is free. A Postgres elsewhere, or one whose processes this user may not
// renice, is left alone, said once in the log.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import type pg from 'pg'

/** Whether a connection string reaches a Postgres on this machine: loopback, localhost or a Unix socket. */
export function isLocalPostgres(databaseUrl: string): boolean {
  const url = new URL(databaseUrl)
  const socket = url.searchParams.get('host')
  if (socket !== null) return socket.startsWith('/')
  const host = decodeURIComponent(url.hostname).replace(/^\[|\]$/g, '')
  return host === '' || host.startsWith('/') || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** The nice value of a process on this machine (field 19 of /proc/<pid>/stat), and its command name. */
export function processNice(pid: number): { command: string; nice: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command sits in parentheses and may itself hold spaces or parentheses: the fields follow the last ')'.
  const close = stat.lastIndexOf(')')
  const command = stat.slice(stat.indexOf('(') + 1, close)
  const fields = stat.slice(close + 2).split(' ')
  // fields[0] is field 3 (state), so field 19 (nice) is fields[16]
  return { command, nice: Number(fields[16]) }
}

/**
 * Gives every backend the pool connects from now on the nice value `nice` (1–19), when Postgres is on this machine.
 * The first refusal (another machine, another user's processes, no /proc) is logged once and ends the attempts.
 */
export function lowerBackendPriority(pool: pg.Pool, databaseUrl: string, nice: number, log: (line: string) => void): void {
  if (!isLocalPostgres(databaseUrl)) {
    log(`[DB] backfill connections keep their CPU priority: Postgres at ${new URL(databaseUrl).host} is not on this machine`)
    return
  }
  let refused = false
  const refuse = (why: string) => {
    if (refused) return
    refused = true
    log(`[DB] backfill connections keep their CPU priority: ${why}`)
  }
  pool.on('connect', (client) => {
    if (refused) return
    // The backend's pid came with the connection (BackendKeyData): no query, so nothing runs beside the borrower's.
    const pid = (client as pg.PoolClient & { processID: number | null }).processID
    if (pid === null) return refuse('the connection did not say its backend pid')
    let command: string
    try {
      command = processNice(pid).command
    } catch (err) {
      return refuse(`backend pid ${pid} is not a process here (${(err as Error).message})`)
    }
    if (command !== 'postgres') return refuse(`backend pid ${pid} here is "${command}", not postgres (another machine's pid?)`)
    try {
      os.setPriority(pid, nice)
    } catch (err) {
      refuse(`renicing backend pid ${pid} to ${nice} was refused (${(err as Error).message})`)
    }
  })
}
