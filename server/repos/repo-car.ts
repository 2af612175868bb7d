// A repository fetched by `com.atproto.sync.getRepo`, from byte stream to records: the CAR is read whole into a
// block store (memory, or a temp file above a size), every block hash-checked, the commit checked (DID, shape,
// signature when the key is known), then the MST is walked on demand. Errors are RepoCarError, except an abort
// (the signal's reason) and I/O errors of the spill file; whatever happens, close() or a failed open removes it.
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { PipelineItem } from '../events/index.js'
import { BlockStore } from './block-store.js'
import { openCarStream } from './car-stream.js'
import { cidString, mstEntries } from './mst-walk.js'
import { RepoCarError } from './repo-car-error.js'
import { SignatureVerifier } from '../pipeline/decoder/signature.js'
import { type RepoCommit, parseCommit, verifyCommit } from './repo-commit.js'
import { type WalkOptions, walkRecords } from './repo-walk.js'

export type RepoCarOptions = {
  did: string
  /** The download stops with 'too-large' as soon as more bytes than this have arrived. */
  maxCarBytes: number
  /** Records above this become 'record' rejects (default 1 MiB). */
  maxRecordBytes?: number
  spillDir: string
  /** Blocks stay in memory up to this many bytes, then all go to a temp file in `spillDir`. */
  spillAboveBytes: number
  /** did:key of the DID's #atproto key: when set, the commit signature must verify. */
  verifyKey: string | null
  /** Checks the signature; a fetcher hands in one for all its repositories, so each key is parsed once. */
  signatures?: SignatureVerifier
  /** A getRepo `since` diff: absent MST nodes and records are unchanged, skipped without a word. */
  partial: boolean
  signal?: AbortSignal
}

export type RepoKey = { key: string; cid: string }

export type RepoCar = {
  commit: RepoCommit
  /** True when the commit signature was checked against `verifyKey`. */
  verified: boolean
  blockCount: number
  spilled: boolean
  carBytes: number
  /** The records in key order, in chunks of at most `chunkRecords` items. */
  walk(opts: WalkOptions): AsyncGenerator<PipelineItem[], void, undefined>
  /** Every MST key in order, without reading the records. */
  keys(): AsyncGenerator<RepoKey, void, undefined>
  /** Removes the spill file; idempotent. */
  close(): Promise<void>
}

export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
// MST nodes and the commit must be kept whatever the record cap, and are far below this in any real repo.
const MIN_KEPT_BLOCK_BYTES = 1024 * 1024
const KEYS_PER_TURN = 1000

export async function openRepoCar(body: AsyncIterable<Uint8Array>, opts: RepoCarOptions): Promise<RepoCar> {
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  const store = new BlockStore({ spillDir: opts.spillDir, spillAboveBytes: opts.spillAboveBytes })
  try {
    const car = await openCarStream(body, {
      maxCarBytes: opts.maxCarBytes,
      maxBlockBytes: Math.max(maxRecordBytes, MIN_KEPT_BLOCK_BYTES),
      signal: opts.signal,
    })
    for await (const section of car.sections) await store.put(section)
    await store.finish()

    const root = car.roots[0]
    if (!root) throw new RepoCarError('no-root', 'the CAR header names no root')
    const rootBlock = store.get(root.bytes)
    if (!rootBlock) {
      // The reference PDS answers a `since` at the latest rev with a header and no blocks at all.
      const why = opts.partial ? ': the repository has not changed since `since`, or the diff lost its commit' : ''
      throw new RepoCarError('no-root', `the root block ${root} is not in the CAR${why}`)
    }
    if (rootBlock.kind === 'oversize') throw new RepoCarError('not-a-commit', `the root block is ${rootBlock.length} bytes`)
    const parsed = parseCommit(rootBlock.bytes, opts.did)
    if (opts.verifyKey) verifyCommit(parsed, opts.verifyKey, opts.signatures ?? new SignatureVerifier({ maxKeys: 1 }))
    if (!opts.partial && !store.has(parsed.data.bytes)) {
      throw new RepoCarError('missing-block', `the MST root ${parsed.commit.dataCid} is not in the CAR`)
    }

    const { partial, signal } = opts
    const ctx = { store, data: parsed.data, did: opts.did, rev: parsed.commit.rev, maxRecordBytes, partial, signal }
    return {
      commit: parsed.commit,
      verified: Boolean(opts.verifyKey),
      blockCount: store.blockCount,
      spilled: store.spilled,
      carBytes: car.bytesRead(),
      walk: (walkOpts) => walkRecords(ctx, walkOpts),
      async *keys() {
        let sinceTurn = 0
        for (const entry of mstEntries(store, parsed.data, { partial: opts.partial, signal: opts.signal })) {
          yield { key: entry.key, cid: cidString(entry.cid) }
          if (++sinceTurn === KEYS_PER_TURN) {
            sinceTurn = 0
            await nextTurn()
          }
        }
      },
      close: () => store.close(),
    }
  } catch (err) {
    await store.close()
    throw err
  }
}
