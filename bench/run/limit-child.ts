// The limit's measurement (limit.ts) in a process of its own, started by the bench: options as JSON in argv[2], the
// result as one JSON line on stdout, anything else on stderr.
import { measureLimit, type LimitOptions } from './limit.js'

const opts = JSON.parse(process.argv[2] ?? '') as LimitOptions
try {
  const result = await measureLimit(opts)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
} catch (err) {
  process.stderr.write(`limit: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
}
