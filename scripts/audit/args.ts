// The command line of `npm run audit`, parsed strictly: every flag known, every value checked, and an error that
// says in one line what was wrong. The choice of repositories is checked by the same rules as POST /api/audit.
import { AuditRequestError, auditRequest } from '../../server/audit/request.js'
import type { AuditRequest } from '../../server/audit/audit-run.js'

export const USAGE = 'usage: npm run audit -- (--sample N | --repos did,did,… | --all) [--fix] [--json FILE]'

export type AuditArgs = { request: AuditRequest; jsonPath: string }

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

const VALUED = new Set(['--sample', '--repos', '--json'])
const FLAGS = new Set(['--all', '--fix'])

export function parseAuditArgs(argv: readonly string[], defaultJson = 'audit-report.json'): AuditArgs {
  const values = new Map<string, string | true>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf('=')
    const name = eq > 0 ? arg.slice(0, eq) : arg
    if (values.has(name)) throw new UsageError(`${name} is given twice`)
    if (FLAGS.has(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`)
      values.set(name, true)
    } else if (VALUED.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${name} needs a value`)
      values.set(name, value)
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(arg)}`)
    }
  }
  const sample = values.get('--sample') as string | undefined
  if (sample !== undefined && !/^\d+$/.test(sample)) throw new UsageError(`--sample must be a whole number, got ${JSON.stringify(sample)}`)
  const repos = values.get('--repos') as string | undefined
  try {
    const request = auditRequest(
      {
        sample: sample === undefined ? undefined : Number(sample),
        repos: repos === undefined ? undefined : repos.split(',').map((d) => d.trim()).filter(Boolean),
        all: values.get('--all'),
        fix: values.has('--fix') ? true : undefined,
      },
      { sample: '--sample', repos: '--repos', all: '--all', fix: '--fix' },
    )
    return { request, jsonPath: (values.get('--json') as string | undefined) ?? defaultJson }
  } catch (err) {
    if (err instanceof AuditRequestError) throw new UsageError(err.message)
    throw err
  }
}
