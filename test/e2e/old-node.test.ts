// `npm start` on a Node older than package.json's "engines": one line naming the Node needed and how to get it,
// exit code 1 — not an error from inside a dependency. Needs an old Node on the machine (Debian's is 20).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find(
  (bin) => existsSync(bin) && Number(execFileSync(bin, ['-p', 'process.versions.node.split(".")[0]']).toString()) < 22,
)

describe.skipIf(!oldNode)('starting on an old Node', () => {
  it('prints one line naming the Node needed and exits 1', async () => {
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const proc = spawn(oldNode!, ['--import', tsx, 'server/index.ts'], {
      cwd: ROOT,
      env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', PORT: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    proc.stdout.on('data', (c: Buffer) => (output += c))
    proc.stderr.on('data', (c: Buffer) => (output += c))
    const code = await new Promise((resolve) => proc.on('exit', resolve))
    const version = execFileSync(oldNode!, ['-p', 'process.versions.node']).toString().trim()
    expect(output.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^\\[SERVER\\] skyfill needs Node.js >=22, this is Node.js ${version.replace(/\./g, '\\.')}: .*On an older Node`)),
    ])
    expect(code).toBe(1)
  })
})
