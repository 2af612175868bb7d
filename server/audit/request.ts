// What an audit is asked to do, from the CLI's flags or the API's JSON body, checked the same way for both: exactly
// one choice of repositories (a random sample, a list of DIDs, or all), and whether to repair. Errors are one line.
import type { AuditRequest } from './audit-run.js'

export const MAX_SAMPLE = 100_000
export const MAX_LISTED_REPOS = 10_000

const DID = /^did:(plc:[a-z2-7]{24}|web:[a-zA-Z0-9.%:-]{1,253})$/

export class AuditRequestError extends Error {
  override readonly name = 'AuditRequestError'
}

export type AuditAsk = { sample?: unknown; repos?: unknown; all?: unknown; fix?: unknown }

export function auditRequest(ask: AuditAsk, names: { sample: string; repos: string; all: string; fix: string }): AuditRequest {
  const chosen = (['sample', 'repos', 'all'] as const).filter((k) => ask[k] !== undefined && ask[k] !== false)
  if (chosen.length !== 1) {
    throw new AuditRequestError(`choose the repositories with exactly one of ${names.sample}, ${names.repos} or ${names.all}${chosen.length ? `, not ${chosen.map((k) => names[k]).join(' and ')}` : ''}`)
  }
  if (ask.fix !== undefined && typeof ask.fix !== 'boolean') throw new AuditRequestError(`${names.fix} must be true or false`)
  const fix = ask.fix === true
  if (ask.sample !== undefined) {
    const n = ask.sample
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_SAMPLE) {
      throw new AuditRequestError(`${names.sample} must be an integer from 1 to ${MAX_SAMPLE}, got ${JSON.stringify(n)}`)
    }
    return { selection: { mode: 'sample', sample: n }, fix }
  }
  if (ask.repos !== undefined) {
    const list = ask.repos
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_LISTED_REPOS) {
      throw new AuditRequestError(`${names.repos} must list from 1 to ${MAX_LISTED_REPOS} DIDs`)
    }
    const bad = list.find((d) => typeof d !== 'string' || !DID.test(d))
    if (bad !== undefined) throw new AuditRequestError(`${names.repos}: ${JSON.stringify(bad)} is not a DID (did:plc:… or did:web:…)`)
    return { selection: { mode: 'repos', repos: list as string[] }, fix }
  }
  if (ask.all !== true) throw new AuditRequestError(`${names.all} must be true`)
  return { selection: { mode: 'all' }, fix }
}
