// A worker thread whose entry is one of our TypeScript files. It is loaded through tsx, resolved from here, so it
// starts the same from any working directory and under the test runner, whose own loader a worker does not inherit.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

export function tsWorker(entry: URL, options: WorkerOptions = {}): Worker {
  return new Worker(entry, { ...options, execArgv: [...(options.execArgv ?? []), '--import', TSX] })
}
