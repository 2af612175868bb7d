// Starts the API thread (api-thread.ts) and answers its calls with the running services. Resolves once it listens;
// rejects with what stops it from listening, in the words an operator acts on.
import type { ApiServices } from '../api/services.js'
import { tsWorker } from '../lib/ts-worker.js'
import type { ApiThreadData, HostMessage, ThreadMessage } from './protocol.js'
import { answerCalls } from './service-host.js'

export type ApiThread = {
  /** The port it listens on (PORT, or the one the system chose for PORT=0). */
  port: number
  /** Closes the server and its connections and waits for the thread to end. */
  stop(): Promise<void>
}

/** How long a stopping API thread may take to close its connections and its pool before it is ended. */
const STOP_GRACE_MS = 2000

function listenError(data: ApiThreadData, code: string | null, message: string): Error {
  const what = code === 'EADDRINUSE' ? 'is already in use' : `cannot be listened on (${code ?? message})`
  return new Error(`PORT ${data.port} on ${data.host} ${what}: stop what holds it, or set PORT to another port`)
}

const ENTRY = new URL('./api-thread.ts', import.meta.url)

/**
 * `onFailure` hears, once, of the thread failing or ending after it listened, other than through stop(). `entry` is
 * the thread's code: api-thread.ts, or a test's thread that fails on purpose in ways the real one has no input for.
 */
export function startApiThread(
  data: ApiThreadData,
  services: ApiServices,
  onFailure: (err: Error) => void,
  entry: URL = ENTRY,
): Promise<ApiThread> {
  const worker = tsWorker(entry, { workerData: data })
  answerCalls(worker, services)
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  let state: 'starting' | 'up' | 'over' = 'starting'

  const stop = async () => {
    state = 'over'
    worker.postMessage({ type: 'stop' } satisfies HostMessage)
    const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS)
    await exited
    clearTimeout(timer)
  }

  return new Promise<ApiThread>((resolve, reject) => {
    // Before it listens, what goes wrong is the start's failure; after, the running server's (reported once).
    const failed = (err: Error) => {
      const was = state
      state = 'over'
      if (was === 'starting') {
        void worker.terminate()
        reject(err)
      } else if (was === 'up') {
        onFailure(err)
      }
    }
    worker.on('message', (message: ThreadMessage) => {
      if (message.type === 'listening' && state === 'starting') {
        state = 'up'
        resolve({ port: message.port, stop })
      } else if (message.type === 'listen-failed') {
        failed(listenError(data, message.code, message.message))
      }
    })
    worker.on('error', (err) => failed(new Error(`the API thread failed: ${err.message}`)))
    void exited.then((code) => failed(new Error(`the API thread ended (exit code ${code})`)))
  })
}
