import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const CHILD = fileURLToPath(new URL('../../support/spill-exit-child.ts', import.meta.url))
const spillDir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-spill-exit-'))
afterAll(() => rmSync(spillDir, { recursive: true, force: true }))

function runChild(): Promise<{ stdout: string; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CHILD, spillDir], { cwd: path.resolve(path.dirname(CHILD), '..', '..') }, (err, stdout) =>
      resolve({ stdout, signal: (err as { signal?: NodeJS.Signals } | null)?.signal ?? null }),
    )
  })
}

describe('spill files', () => {
  it('leave nothing in the spill folder when the process is SIGKILLed mid-walk', async () => {
    const { stdout, signal } = await runChild()
    expect(signal).toBe('SIGKILL')
    expect(JSON.parse(stdout)).toEqual({ spilled: true, files: 0, open: 1 })
    expect(readdirSync(spillDir)).toEqual([])
  })
})
