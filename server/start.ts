// `npm start` (through index.ts, which checks Node first): read the environment once, start, and shut down cleanly
// on SIGINT/SIGTERM.
import 'dotenv/config'
import { ConfigError, parseConfig, type Config } from './config/index.js'

let config: Config
try {
  config = parseConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`[CONFIG] ${err.message}`)
    process.exit(1)
  }
  throw err
}

try {
  // Loaded only once the configuration is known to be good, so a typo is reported at once.
  const { startSkyfill } = await import('./main.js')
  const skyfill = await startSkyfill(config)
  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`[SERVER] ${signal}: shutting down (finishing in-flight writes)`)
    await skyfill.stop()
    process.exit(0)
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal))
} catch (err) {
  console.error(`[SERVER] could not start: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
