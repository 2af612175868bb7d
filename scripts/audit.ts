// `npm run audit -- (--sample N | --repos did,… | --all) [--fix] [--json FILE]`: compares repositories with the
// database record by record, prints a table, writes the report as JSON (audit-report.json by default), and exits 0
// when no differences remain, 1 when some do, 2 on a usage or configuration error.
//
// It runs skyfill's own services without the HTTP server (server/runtime.ts): the same fetcher and per-host limiter
// as the backfill (BACKFILL_HOST_* apply), and with --fix the same repo workers, here in this process, for the
// resyncs. The database is DATABASE_URL, or the embedded Postgres of `npm start` (a running server's, if it runs).
import 'dotenv/config'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { remainingDifferences, reportTable } from '../server/audit/report.js'
import { ConfigError, parseConfig, type Config } from '../server/config/index.js'
import { automaticInstanceId } from '../server/config/instance.js'
import { openDatabase, type OpenDatabase } from '../server/db/open-database.js'
import { createRuntime } from '../server/runtime.js'
import { USAGE, UsageError, parseAuditArgs, type AuditArgs } from './audit/args.js'

const log = (line: string) => console.error(line)

function fail(message: string, code: number): never {
  console.error(`[AUDIT] ${message}`)
  process.exit(code)
}

let args: AuditArgs
let config: Config
try {
  args = parseAuditArgs(process.argv.slice(2))
  // No live firehose here: the audit only reads, and repairs through the repo workers. Always an instance id of its
  // own, whatever INSTANCE_ID (.env) says: under a running server's id, its repair would first give back as a
  // previous life's everything that server holds (its ranges, its repository jobs).
  config = {
    ...parseConfig(process.env),
    firehoseEnabled: false,
    instanceId: automaticInstanceId(`audit.${os.hostname()}`, process.pid, randomBytes(3).toString('hex')),
  }
} catch (err) {
  if (err instanceof UsageError) fail(`${err.message}\n${USAGE}`, 2)
  if (err instanceof ConfigError) fail(err.message, 2)
  throw err
}

let db: OpenDatabase
try {
  db = await openDatabase(config, log, { attach: true })
} catch (err) {
  fail(`the database could not be opened: ${err instanceof Error ? err.message : String(err)}`, 2)
}

const runtime = createRuntime(config, db.url, log)
const shutdown = async () => {
  await runtime.stop()
  await db.embedded?.stop()
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`[AUDIT] ${signal}: stopping`)
    void shutdown().finally(() => process.exit(130))
  })
}

let code: number
try {
  // Counted among the live instances while it runs, so the per-host limits are shared with the servers on this
  // database: its fetches and theirs together stay within each host's (BACKFILL_HOST_*).
  await runtime.instances.start()
  // The refresher verifies again the identities a repair asks for.
  if (args.request.fix) runtime.identity.start()
  const report = await runtime.audit.begin(args.request)
  console.log(reportTable(report))
  const file = path.resolve(args.jsonPath)
  await fs.writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
  log(`[AUDIT] report written to ${file}`)
  code = remainingDifferences(report) > 0 ? 1 : 0
} catch (err) {
  log(`[AUDIT] failed: ${err instanceof Error ? err.message : String(err)}`)
  code = 1
} finally {
  await shutdown()
}
process.exit(code)
