// What the main thread hears when the API thread goes wrong: before it listens, the start fails; after, onFailure
// is told once (main.ts then logs it and stops the process), and the thread's exit that follows is not told again.
import { describe, expect, it } from 'vitest'
import type { ApiServices } from '../../../server/api/services.js'
import type { ApiThreadData } from '../../../server/api-thread/protocol.js'
import { startApiThread } from '../../../server/api-thread/start-api-thread.js'
import type { Failure } from './fixtures/failing-thread.js'

const ENTRY = new URL('./fixtures/failing-thread.ts', import.meta.url)
const DATA: ApiThreadData = { databaseUrl: 'postgres://unused', host: '127.0.0.1', port: 0, poolSize: 1, adminToken: null, firehoseEnabled: false, indexedTables: [] }
const SERVICES = {} as ApiServices

/** Starts the failing thread, then collects what onFailure hears until the thread has surely ended. */
async function run(failure: Failure): Promise<{ started: number | Error; failures: string[] }> {
  const failures: string[] = []
  const started = await startApiThread({ ...DATA, failure } as ApiThreadData, SERVICES, (err) => failures.push(err.message), ENTRY).then(
    (thread) => thread.port,
    (err: Error) => err,
  )
  await new Promise((r) => setTimeout(r, 1000))
  return { started, failures }
}

describe('the API thread going wrong', () => {
  it('after listening, by throwing: onFailure hears it once, with the error', async () => {
    const { started, failures } = await run('throw-after-listening')
    expect(started).toBe(4321)
    expect(failures).toEqual(['the API thread failed: a bug outside any request'])
  })

  it('after listening, by ending: onFailure hears its exit code once', async () => {
    const { started, failures } = await run('exit-after-listening')
    expect(started).toBe(4321)
    expect(failures).toEqual(['the API thread ended (exit code 3)'])
  })

  it('before listening: the start fails with the error, and onFailure hears nothing', async () => {
    const { started, failures } = await run('throw-before-listening')
    expect(started).toBeInstanceOf(Error)
    expect((started as Error).message).toBe('the API thread failed: no routes today')
    expect(failures).toEqual([])
  })
})
