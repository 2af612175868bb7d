// Postgres refuses to run as root, so when skyfill runs as root its embedded Postgres runs as the unprivileged user
// `postgres` (created when missing). That user often cannot enter the folder skyfill lives in (a clone in /root is
// mode 0700): the binaries under node_modules and the data under data/ are then put where it can reach them, in
// RELOCATION_ROOT — the binaries copied once per Postgres version, the data directory moved there and linked from
// where the operator asked for it, so `data/postgres` keeps working as a path.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'

export const RELOCATION_ROOT = '/var/lib/skyfill'

/** The identity Postgres's processes run under; null when skyfill is not root and Postgres runs as us. */
export type RunAs = { uid: number; gid: number } | null

const USER = 'postgres'
const FIX = 'run skyfill as a user other than root, or set DATABASE_URL to use another Postgres'

function idOf(flag: '-u' | '-g'): number | null {
  const out = spawnSync('id', [flag, USER], { encoding: 'utf8' })
  return out.status === 0 ? Number(out.stdout.trim()) : null
}

function commandError(command: string, out: ReturnType<typeof spawnSync>): string {
  if (out.error) return `${command}: ${out.error.message}`
  const text = String(out.stderr ?? '').trim().split('\n').pop()
  return `${command} exited ${out.status}${text ? `: ${text}` : ''}`
}

/** As root: the uid and gid of `postgres`, creating the user (and its group) when missing. */
export function postgresIdentity(): RunAs {
  if (process.getuid?.() !== 0) return null
  if (idOf('-u') === null) {
    for (const [command, args] of [['groupadd', ['-f', USER]], ['useradd', ['-g', USER, '-M', '-s', '/usr/sbin/nologin', USER]]] as const) {
      const out = spawnSync(command, args, { encoding: 'utf8' })
      if (out.status !== 0) {
        throw new Error(
          `running as root, the embedded Postgres must run as the user "${USER}", which could not be created ` +
            `(${commandError(command, out)}); create it (useradd ${USER}), or ${FIX}`,
        )
      }
    }
  }
  const uid = idOf('-u')
  const gid = idOf('-g')
  if (uid === null || gid === null) throw new Error(`running as root: could not read the uid/gid of user "${USER}"; ${FIX}`)
  return { uid, gid }
}

/** Whether `runAs` may enter `dir` (every folder on the way included), asked of the kernel as that user. */
export function canEnter(dir: string, runAs: RunAs): boolean {
  if (!runAs) return true
  return spawnSync('test', ['-x', dir], { uid: runAs.uid, gid: runAs.gid }).status === 0
}

async function ensureRelocationRoot(runAs: NonNullable<RunAs>): Promise<void> {
  await fs.mkdir(RELOCATION_ROOT, { recursive: true, mode: 0o755 })
  if (!canEnter(RELOCATION_ROOT, runAs)) {
    throw new Error(`running as root: the user "${USER}" cannot enter ${RELOCATION_ROOT} either (check the modes of its parents); ${FIX}`)
  }
}

/**
 * The Postgres distribution directory (bin/, lib/, share/) to run from: `nativeDir` itself when `runAs` can reach
 * it, else a copy in RELOCATION_ROOT named by `version`, made once and shared by every skyfill on the machine.
 */
export async function reachableBinaries(nativeDir: string, version: string, runAs: RunAs): Promise<string> {
  if (!runAs || canEnter(path.join(nativeDir, 'bin'), runAs)) return nativeDir
  await ensureRelocationRoot(runAs)
  const target = path.join(RELOCATION_ROOT, `postgres-${version}-${process.platform}-${process.arch}`)
  const complete = path.join(target, '.complete')
  if (existsSync(complete)) return target
  // Built beside the target and renamed into place, so a concurrent start never runs a half-copied tree.
  const staging = `${target}.${process.pid}.partial`
  await fs.rm(staging, { recursive: true, force: true })
  await fs.cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true })
  await fs.writeFile(path.join(staging, '.complete'), `${nativeDir}\n`)
  try {
    await fs.rm(target, { recursive: true, force: true })
    await fs.rename(staging, target)
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true })
    if (!existsSync(complete)) throw err
  }
  return target
}

/**
 * The data directory Postgres is given: `dataDir` when `runAs` can reach its parent, else a directory in
 * RELOCATION_ROOT (named by a hash of `dataDir`) that `dataDir` becomes a symbolic link to. A data directory already
 * initialised in the unreachable place is moved over; one a failed start left half-initialised is discarded, and so
 * is what an earlier link (since deleted) pointed to.
 */
export async function reachableDataDir(dataDir: string, runAs: RunAs, log: (line: string) => void): Promise<string> {
  const existing = await fs.lstat(dataDir).catch(() => null)
  if (existing?.isSymbolicLink()) {
    const target = path.resolve(path.dirname(dataDir), await fs.readlink(dataDir))
    await fs.mkdir(target, { recursive: true })
    return target
  }
  await fs.mkdir(path.dirname(dataDir), { recursive: true })
  if (!runAs || canEnter(path.dirname(dataDir), runAs)) return dataDir
  await ensureRelocationRoot(runAs)
  const target = path.join(RELOCATION_ROOT, `data-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`)
  // What a link deleted earlier (rm -r data) pointed to is not this directory's data any more.
  await fs.rm(target, { recursive: true, force: true })
  if (existing?.isDirectory() && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await fs.rename(dataDir, target).catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        `the user "${USER}" cannot enter ${path.dirname(dataDir)}, and ${dataDir} could not be moved to ${target} ` +
          `(${err.code ?? err.message}): move it yourself and link it back (ln -s ${target} ${dataDir}), or ${FIX}`,
      )
    })
  } else {
    await fs.rm(dataDir, { recursive: true, force: true })
    await fs.mkdir(target)
  }
  await fs.symlink(target, dataDir)
  log(`[DB] the user "${USER}" that Postgres runs as cannot enter ${path.dirname(dataDir)}: the data lives in ${target}, linked from ${dataDir}`)
  return target
}
