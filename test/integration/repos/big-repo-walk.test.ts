// A 200,000-record repository (issue 11, item 8): walked from a CAR spilled to disk in a child process of its
// own, so that what the walk adds to memory is measured apart from the test runner's.
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { bigRepoCar } from '../../support/big-repo.js'
import type { ProbeInput, ProbeResult } from '../../support/walk-memory-probe.js'

const RECORDS = 200_000
const PROBE = fileURLToPath(new URL('../../support/walk-memory-probe.ts', import.meta.url))
const REPO_ROOT = path.resolve(path.dirname(PROBE), '..', '..')
/** What the walk may add to the process's resident memory, index and spill buffers included. */
const MAX_RSS_GROWTH_MB = 150
const MAX_HEAP_GROWTH_MB = 80

const spillDir = mkdtempSync(path.join(os.tmpdir(), 'skyfill-big-walk-'))
afterAll(() => rmSync(spillDir, { recursive: true, force: true }))

describe('walking a 200,000-record repository', () => {
  it('yields every record in key order, from a spilled CAR, with bounded memory', { timeout: 120_000 }, async () => {
    const repo = await bigRepoCar(RECORDS, 1)
    const size = `${(repo.bytes / 1048576).toFixed(1)} MB`
    console.log(`[big-repo] ${repo.records} records, ${size} CAR, ${repo.cached ? 'cached' : 'generated'} in ${repo.ms} ms`)
    const input: ProbeInput = {
      file: repo.file,
      did: repo.did,
      verifyKey: repo.signingKey,
      spillDir,
      spillAboveBytes: 8 * 1024 * 1024,
      chunkRecords: 200,
    }
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', PROBE, JSON.stringify(input)], {
      cwd: REPO_ROOT,
      maxBuffer: 1024 * 1024,
    })
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as ProbeResult
    const rssGrowth = result.peakRssMb - result.baselineRssMb
    const heapGrowth = result.peakHeapMb - result.baselineHeapMb
    console.log(
      `[big-repo] read ${result.readMs} ms, walk ${result.walkMs} ms (${Math.round(result.records / (result.walkMs / 1000))} records/s); ` +
        `peak RSS ${result.peakRssMb} MB (+${rssGrowth.toFixed(1)} over ${result.baselineRssMb}), peak heap +${heapGrowth.toFixed(1)} MB; ` +
        `loop delay during the walk p50 ${result.walkLoopDelayMs.p50} / p99 ${result.walkLoopDelayMs.p99} / max ${result.walkLoopDelayMs.max} ms, ` +
        `during the read max ${result.readLoopDelayMaxMs} ms`,
    )
    expect(result).toMatchObject({ records: RECORDS, rejects: 0, sorted: true, spilled: true })
    expect(rssGrowth).toBeLessThan(MAX_RSS_GROWTH_MB)
    expect(heapGrowth).toBeLessThan(MAX_HEAP_GROWTH_MB)
    expect(readdirSync(spillDir)).toEqual([])
  })
})
