// The command line of `npm run audit`: what it accepts, and the one-line error for what it does not.
import { describe, expect, it } from 'vitest'
import { UsageError, parseAuditArgs } from '../../../scripts/audit/args.js'

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
const B = 'did:web:example.com'

describe('parseAuditArgs', () => {
  it('reads a sample, a list of repositories or all, with --fix and --json', () => {
    expect(parseAuditArgs(['--sample', '25'])).toEqual({ request: { selection: { mode: 'sample', sample: 25 }, fix: false }, jsonPath: 'audit-report.json' })
    expect(parseAuditArgs([`--repos=${A},${B}`, '--fix'])).toEqual({ request: { selection: { mode: 'repos', repos: [A, B] }, fix: true }, jsonPath: 'audit-report.json' })
    expect(parseAuditArgs(['--all', '--json', 'out.json'])).toEqual({ request: { selection: { mode: 'all' }, fix: false }, jsonPath: 'out.json' })
  })

  it.each([
    [[], 'choose the repositories with exactly one of --sample, --repos or --all'],
    [['--all', '--sample', '3'], 'choose the repositories with exactly one of --sample, --repos or --all, not --sample and --all'],
    [['--sample', 'ten'], '--sample must be a whole number, got "ten"'],
    [['--sample', '0'], '--sample must be an integer from 1 to 100000, got 0'],
    [['--sample'], '--sample needs a value'],
    [['--repos', '--all'], '--repos needs a value'],
    [['--repos', `${A},alice.test`], '--repos: "alice.test" is not a DID (did:plc:… or did:web:…)'],
    [['--all', '--fast'], 'unknown argument "--fast"'],
    [['--all', '--all'], '--all is given twice'],
    [['--all=yes'], '--all takes no value'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseAuditArgs(argv)).toThrow(new UsageError(message))
  })
})
