// The generated workload the decoder tests share, and helpers to look at or alter its frames.
import { IdResolver, MemoryCache } from '@atproto/identity'
import { decodeAll } from '@atproto/lex-cbor'
import { readCarWithRoot, blocksToCarFile } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { didDocument } from '../../../bench/peer/plc-stub.js'
import { encodeMessageFrame } from '../../../bench/source/frames.js'
import { type GeneratedFrame, generateFrames } from '../../../bench/source/generator.js'

export const PLC_URL = 'https://plc.test'

let cached: Promise<GeneratedFrame[]> | undefined

/** ~500 frames from 20 accounts: creates, updates, deletes, identity, account and sync events. */
export function workload(): Promise<GeneratedFrame[]> {
  cached ??= generateFrames({
    seed: 'skyfill-decoder-tests',
    accounts: 20,
    events: 500,
    startTime: new Date('2025-01-01T00:00:00.000Z'),
    spacingMs: 100,
    workers: 0,
  })
  return cached
}

/** An account as the generator announces it in its #identity frame, signing key included. */
export type WorkloadAccount = NonNullable<GeneratedFrame['account']>

export function accountsOf(frames: GeneratedFrame[]): WorkloadAccount[] {
  return frames.flatMap((f) => (f.account ? [f.account] : []))
}

/** CIDs become strings, so outputs of decoders built on different CID classes compare by value. */
export function normalize(value: unknown): unknown {
  const cid = CID.asCID(value)
  if (cid) return cid.toString()
  if (Array.isArray(value)) return value.map(normalize)
  if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]))
}

export function frameParts(bytes: Uint8Array): { type: string; body: Record<string, unknown> } {
  const [header, body] = [...decodeAll(bytes)] as [{ t: string }, Record<string, unknown>]
  return { type: header.t, body }
}

/** The same #commit frame with the block for `cid` left out of its CAR. */
export async function withoutBlock(bytes: Uint8Array, cid: unknown): Promise<Uint8Array> {
  const { body } = frameParts(bytes)
  const car = await readCarWithRoot(body.blocks as Uint8Array)
  car.blocks.delete(CID.asCID(cid)!)
  return encodeMessageFrame('#commit', { ...body, blocks: await blocksToCarFile(car.root, car.blocks) })
}

type Fetch = typeof globalThis.fetch

/**
 * A resolver answering from the workload's accounts instead of the network: PLC documents from their signing
 * keys, and handles from /.well-known/atproto-did (DNS lookups for .test fail fast offline). `wrap` lets a
 * test make some lookups fail.
 */
export function workloadResolver(accounts: WorkloadAccount[], wrap: (fetch: Fetch) => Fetch = (f) => f): IdResolver {
  const byDid = new Map(accounts.map((a) => [a.did, a]))
  const byHandle = new Map(accounts.map((a) => [a.handle, a]))
  const fetch: Fetch = async (input) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.origin === PLC_URL) {
      const account = byDid.get(decodeURIComponent(url.pathname.slice(1)))
      return account ? Response.json(didDocument(account, 'https://pds.test')) : new Response('not found', { status: 404 })
    }
    const account = url.pathname === '/.well-known/atproto-did' ? byHandle.get(url.hostname) : undefined
    return account ? new Response(account.did) : new Response('not found', { status: 404 })
  }
  return new IdResolver({ plcUrl: PLC_URL, didCache: new MemoryCache(), fetch: wrap(fetch) as never })
}
