import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const CHILD = fileURLToPath(new URL('../../support/spill-exit-child.ts', import.meta.url))
const spillDir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-spill-exit-'))
afterAll(() => rmSync(spillDir, { recursive: true, force: true }))

describe('spill files', () => {
  it('are removed when the process exits without closing the CAR', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CHILD, spillDir], {
      cwd: path.resolve(path.dirname(CHILD), '..', '..'),
    })
    expect(JSON.parse(stdout)).toEqual({ spilled: true, files: 1 })
    expect(readdirSync(spillDir)).toEqual([])
  })
})
