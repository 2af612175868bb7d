// `npm start` (through index.ts, which checks Node first): read the environment once, start, and on SIGINT/SIGTERM
// shut down within a deadline: in-flight writes get a few seconds, then the process exits anyway (stopping the
// embedded Postgres); a second signal exits at once.
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

/** How long a shutdown may take (in-flight writes finishing) before the process exits anyway. */
const STOP_DEADLINE_MS = 3000
/** A terminal's Ctrl-C reaches us twice under npm (from the terminal, and relayed by npm): one signal. */
const SAME_SIGNAL_MS = 1000

// Loaded only once the configuration is known to be good, so a typo is reported at once.
const starting = import('./main.js').then(({ startSkyfill }) => startSkyfill(config))
let firstSignalAt = 0

// Every way out ends with this line. Exiting runs embedded.ts's exit hook, which stops the embedded Postgres.
const exit = (code: number): never => {
  console.log('[SERVER] stopped')
  process.exit(code)
}

const onSignal = (signal: NodeJS.Signals) => {
  if (firstSignalAt) {
    if (Date.now() - firstSignalAt < SAME_SIGNAL_MS) return
    console.log(`[SERVER] ${signal} again: exiting now`)
    exit(1)
  }
  firstSignalAt = Date.now()
  console.log(`[SERVER] ${signal}: shutting down (in-flight writes get ${STOP_DEADLINE_MS / 1000} s; a second signal exits at once)`)
  setTimeout(() => {
    console.log(`[SERVER] not stopped after ${STOP_DEADLINE_MS / 1000} s: exiting anyway`)
    exit(1)
  }, STOP_DEADLINE_MS).unref()
  // A signal during start-up stops what has started, once it has.
  void starting.then(
    (skyfill) =>
      skyfill.stop().then(
        () => exit(0),
        (err: unknown) => {
          console.error(`[SERVER] while stopping: ${err instanceof Error ? err.message : String(err)}`)
          exit(1)
        },
      ),
    () => {},
  )
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)

try {
  await starting
} catch (err) {
  console.error(`[SERVER] could not start: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
