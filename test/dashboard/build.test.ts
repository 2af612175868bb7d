// scripts/build-client.ts on a throwaway copy of client/ (so the real client/dist that other tests serve is
// never rebuilt under them): builds when missing, skips when current, rebuilds on a change, and concurrent
// callers build once.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_DIR, ensureClientBuilt, staleReason } from '../../scripts/build-client.js'

describe('scripts/build-client', () => {
  // Beside client/ (gitignored), so the copy's vite.config.ts resolves `vite` from node_modules and its imports of
  // shared server modules (../../server/...) resolve as the real client's do.
  const copy = path.join(path.dirname(CLIENT_DIR), `.client-copy-${randomBytes(4).toString('hex')}`)

  beforeAll(async () => {
    await fs.mkdir(copy, { recursive: true })
    for (const entry of ['index.html', 'vite.config.ts', 'src']) {
      await fs.cp(path.join(CLIENT_DIR, entry), path.join(copy, entry), { recursive: true })
    }
  })

  afterAll(async () => {
    await fs.rm(copy, { recursive: true, force: true })
  })

  it('builds when dist is missing, then only when a source changes', async () => {
    const quiet = { log: () => {}, clientDir: copy }
    expect(await staleReason(copy)).toBe('client/dist is missing')
    const first = await ensureClientBuilt(quiet)
    expect(first).toMatchObject({ built: true, reason: 'client/dist is missing' })
    const html = await fs.readFile(path.join(copy, 'dist', 'index.html'), 'utf8')
    expect(html).toMatch(/<script type="module" crossorigin src="\.\/assets\/index-[\w-]+\.js">/)
    expect(await staleReason(copy)).toBeNull()

    const again = await ensureClientBuilt(quiet)
    expect(again).toMatchObject({ built: false, reason: 'up to date' })
    expect(again.ms).toBeLessThan(500)

    await fs.appendFile(path.join(copy, 'src', 'style.css'), '\n/* changed */\n')
    expect(await staleReason(copy)).toBe('client sources changed since the last build')
    // Two at once (parallel test files, a test run beside `npm start`): one builds, the other waits for it.
    const results = await Promise.all([ensureClientBuilt(quiet), ensureClientBuilt(quiet)])
    expect(results.filter((r) => r.built)).toHaveLength(1)
    expect(results.find((r) => !r.built)?.reason).toBe('built by another process')
    expect(await staleReason(copy)).toBeNull()
    // No scratch directories or lock left behind.
    const leftovers = (await fs.readdir(copy)).filter((name) => name.startsWith('.dist-') || name === '.build.lock')
    expect(leftovers).toEqual([])
  })
})
