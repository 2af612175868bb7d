// The MST nodes among a CAR's blocks, and what the generic codecs (@ipld/dag-cbor, multiformats) make of each: the
// reference every test of our own node codec compares against.
import * as dagCbor from '@ipld/dag-cbor'
import { readCar } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

export type ReferenceNode = { cid: CID; bytes: Uint8Array; left: CID | null; entries: { key: string; value: CID; right: CID | null }[] }

/** Every block of the CAR that @ipld/dag-cbor reads as an MST node (a map of `e` and `l`). */
export async function mstNodesOf(car: Uint8Array): Promise<ReferenceNode[]> {
  const { blocks } = await readCar(car)
  const out: ReferenceNode[] = []
  for (const [anyCid, bytes] of blocks) {
    const cid = CID.decode(anyCid.bytes)
    if (cid.code !== dagCbor.code) continue
    const node = dagCbor.decode(bytes) as { e?: unknown; l?: unknown }
    if (typeof node !== 'object' || node === null || !Array.isArray(node.e) || !('l' in node)) continue
    let previous = ''
    const entries = (node.e as { p: number; k: Uint8Array; v: CID; t: CID | null }[]).map(({ p, k, v, t }) => {
      const key = previous.slice(0, p) + Buffer.from(k).toString('latin1')
      previous = key
      return { key, value: v, right: t }
    })
    out.push({ cid, bytes, left: (node.l as CID | null) ?? null, entries })
  }
  return out
}

/** The CID @ipld/dag-cbor and multiformats give the node `value`. */
export async function referenceCid(value: unknown): Promise<CID> {
  return CID.createV1(dagCbor.code, await sha256.digest(dagCbor.encode(value)))
}

