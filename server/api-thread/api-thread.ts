// The API thread's entry: the HTTP server, its routes and the API's own pool, on a thread of its own. The backfill's
// decoding and writing, and the garbage collections they cause, run on the main thread and never hold a request
// here; what a route reads of the services (progress, status, metrics) it asks the main thread (service-proxy.ts).
import type { Server } from 'node:http'
import { parentPort, workerData } from 'node:worker_threads'
import { createApp } from '../api/app.js'
import { createPool } from '../db/pools.js'
import type { ApiThreadData, HostMessage, ThreadMessage } from './protocol.js'
import { serviceProxy } from './service-proxy.js'

const data = workerData as ApiThreadData
const port = parentPort!
const post = (message: ThreadMessage) => port.postMessage(message)

const pool = createPool(data.databaseUrl, 'api', data.poolSize)
const services = serviceProxy(port, data.firehoseEnabled)
const app = createApp({ apiPool: pool, services, adminToken: data.adminToken, indexedTables: data.indexedTables })

const stop = async (server: Server | null) => {
  services.close('the server is stopping')
  if (server) {
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
  await pool.end()
  // The last handle: with it closed the thread has nothing left to run, and ends.
  port.close()
}

// Express 5 hands a listen error to this callback (and only there), not as a rejection or a throw.
const server = app.listen(data.port, data.host, (err?: NodeJS.ErrnoException) => {
  if (err) {
    post({ type: 'listen-failed', code: err.code ?? null, message: err.message })
    void stop(null)
    return
  }
  const address = server.address()
  post({ type: 'listening', port: typeof address === 'object' && address ? address.port : data.port })
})

port.on('message', (message: HostMessage) => {
  if (message.type === 'stop') void stop(server)
})
