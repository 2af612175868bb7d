// Serves a stored synthetic workload (generating it first if needed) until interrupted. Prints the service URL
// on stdout, alone on its line, so scripts can capture it; progress goes to stderr.
//   npx tsx bench/source/cli.ts --accounts 100 --events 50000 --port 5100 --rate 0
import { parseArgs } from 'node:util'
import { defaultWorkers } from './generator.js'
import { startSyntheticFirehose } from './server.js'
import { openOrGenerateWorkload } from './store.js'

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: 'skyfill' },
    accounts: { type: 'string', default: '100' },
    events: { type: 'string', default: '50000' },
    start: { type: 'string', default: '2025-01-01T00:00:00.000Z' },
    'spacing-ms': { type: 'string', default: '100' },
    port: { type: 'string', default: '0' },
    rate: { type: 'string', default: '0' },
    'oldest-seq': { type: 'string' },
    workers: { type: 'string' },
    dir: { type: 'string' },
  },
})

const events = Number(args.events)
const store = await openOrGenerateWorkload(
  {
    seed: args.seed,
    accounts: Number(args.accounts),
    events,
    startTime: new Date(args.start),
    spacingMs: Number(args['spacing-ms']),
    workers: args.workers === undefined ? defaultWorkers(events) : Number(args.workers),
  },
  { dir: args.dir, onProgress: (seq, total) => process.stderr.write(`generating ${seq}/${total}\r`) },
)
const { generationMs, bytes } = store.manifest
process.stderr.write(`workload ${store.path} (${store.headSeq} frames, ${(bytes / 1e6).toFixed(1)} MB, generated in ${(generationMs / 1000).toFixed(1)} s)\n`)

const firehose = await startSyntheticFirehose({
  store,
  port: Number(args.port),
  ratePerSec: Number(args.rate) || undefined,
  oldestSeq: args['oldest-seq'] === undefined ? undefined : Number(args['oldest-seq']),
})
console.log(firehose.url)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void firehose.close().then(() => process.exit(0)))
}
