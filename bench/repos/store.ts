// Repo workloads on disk, so a bench pays for building and signing thousands of repositories once, as
// bench/source/store.ts does for firehose frames. A workload is a directory `repos-<key>` under bench/out/synthetic
// holding `cars.bin` (every repository's CAR, one after another) and `manifest.json` (each repository's DID, handle,
// key, commit and byte range), the manifest written last so a half-built workload is never mistaken for a whole one.
// The key covers the parameters and the builder's own source, so an edited builder never serves a stale cache.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { accountKeypair, syntheticAccount } from '../source/accounts.js'
import { Rng } from '../source/prng.js'
import { DEFAULT_STORE_DIR } from '../source/store.js'
import { buildRepo, type Neighbourhood } from './build.js'
import { repoSizes, type RepoWorkloadParams } from './sizes.js'

export type StoredRepo = {
  did: string
  handle: string
  /** did:key of the commit's signing key */
  signingKey: string
  rev: string
  commitCid: string
  records: number
  offset: number
  bytes: number
}

export type RepoManifest = {
  params: RepoWorkloadParams
  repos: StoredRepo[]
  records: number
  /** records per collection, over all repositories */
  counts: Record<string, number>
  bytes: number
  generationMs: number
}

export type RepoWorkload = {
  dir: string
  manifest: RepoManifest
  /** One repository's CAR bytes, read from the cache file. */
  car(repo: StoredRepo): Promise<Buffer>
  /** The same bytes as a stream, for serving. */
  carStream(repo: StoredRepo): Readable
}

const BUILDER_SOURCES = [new URL('./build.ts', import.meta.url), new URL('./sizes.ts', import.meta.url), new URL('../source/records.ts', import.meta.url), new URL('../source/accounts.ts', import.meta.url), new URL('../source/prng.ts', import.meta.url)]
const WRITE_BATCH_BYTES = 8 << 20

export async function openOrBuildRepoWorkload(
  params: RepoWorkloadParams,
  opts: { dir?: string; onProgress?: (built: number, total: number) => void } = {},
): Promise<RepoWorkload> {
  const dir = join(opts.dir ?? DEFAULT_STORE_DIR, `repos-${await workloadKey(params)}`)
  try {
    return await openRepoWorkload(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dir, { recursive: true })
  const started = performance.now()
  const sizes = repoSizes(params)
  const accounts = sizes.map((_, i) => syntheticAccount(params.seed, i))
  const around: Neighbourhood = { dids: accounts.map((a) => a.did), recentPosts: [] }
  const rng = new Rng(`${params.seed}:records`)
  const tmp = join(dir, `cars.bin.${process.pid}.tmp`)
  const file = await open(tmp, 'w')
  const repos: StoredRepo[] = []
  const counts: Record<string, number> = {}
  let offset = 0
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  try {
    for (let i = 0; i < sizes.length; i++) {
      const keypair = await accountKeypair(params.seed, i)
      const built = await buildRepo(accounts[i], keypair, sizes[i], rng, around)
      repos.push({ did: accounts[i].did, handle: accounts[i].handle, signingKey: keypair.did(), rev: built.rev, commitCid: built.commitCid, records: sizes[i], offset, bytes: built.car.length })
      for (const [c, n] of Object.entries(built.counts)) counts[c] = (counts[c] ?? 0) + n
      offset += built.car.length
      pending.push(built.car)
      pendingBytes += built.car.length
      if (pendingBytes >= WRITE_BATCH_BYTES) {
        await file.write(Buffer.concat(pending))
        pending = []
        pendingBytes = 0
      }
      opts.onProgress?.(i + 1, sizes.length)
    }
    await file.write(Buffer.concat(pending))
  } catch (err) {
    await file.close()
    await rm(tmp, { force: true })
    throw err
  }
  await file.close()
  await rename(tmp, join(dir, 'cars.bin'))
  const manifest: RepoManifest = {
    params,
    repos,
    records: sizes.reduce((a, b) => a + b, 0),
    counts,
    bytes: offset,
    generationMs: Math.round(performance.now() - started),
  }
  await writeFile(join(dir, `manifest.json.${process.pid}.tmp`), JSON.stringify(manifest))
  await rename(join(dir, `manifest.json.${process.pid}.tmp`), join(dir, 'manifest.json'))
  return openRepoWorkload(dir)
}

export async function openRepoWorkload(dir: string): Promise<RepoWorkload> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as RepoManifest
  const cars = join(dir, 'cars.bin')
  return {
    dir,
    manifest,
    async car(repo) {
      const file = await open(cars, 'r')
      try {
        const bytes = Buffer.allocUnsafe(repo.bytes)
        const { bytesRead } = await file.read(bytes, 0, repo.bytes, repo.offset)
        if (bytesRead !== repo.bytes) throw new Error(`${cars}: ${repo.did}'s CAR is cut short (${bytesRead} of ${repo.bytes} bytes)`)
        return bytes
      } finally {
        await file.close()
      }
    },
    carStream: (repo) => createReadStream(cars, { start: repo.offset, end: repo.offset + repo.bytes - 1 }),
  }
}

async function workloadKey(params: RepoWorkloadParams): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(params))
  for (const source of BUILDER_SOURCES) hash.update(await readFile(source))
  const records = params.tiers.reduce((a, t) => a + t.repos * t.meanRecords, 0)
  const repos = params.tiers.reduce((a, t) => a + t.repos, 0)
  return `${params.seed}-r${repos}-n${records}-${hash.digest('hex').slice(0, 16)}`.replace(/[^a-zA-Z0-9_.-]/g, '_')
}
