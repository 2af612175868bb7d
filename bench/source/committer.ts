// Turns planned writes into real signed repo commits and their subscribeRepos frames, as the PDS does:
// the CAR carries the new MST nodes, the covering proofs of every op, the record blocks and the signed commit
// (formatSeqCommit in packages/pds/src/sequencer/events.ts). Repos live in memory as MST objects only; no
// block storage is kept, since nothing ever reads an old block back.
import './mst-cache.js'
import type { Secp256k1Keypair } from '@atproto/crypto'
import type { Cid } from '@atproto/lex-cbor'
import { BlockMap, blocksToCarFile, DataDiff, MemoryBlockstore, MST, signCommit } from '@atproto/repo'
import { accountKeypair } from './accounts.js'
import { encodeMessageFrame } from './frames.js'
import type { RecordValue } from './records.js'

/** An account's first commit at seq and its #sync frame at seq + 1. */
export type InitJob = { kind: 'init'; seq: number; time: string; syncTime: string; index: number; did: string; rev: string }
export type CommitJobWrite = { action: 'create' | 'update' | 'delete'; collection: string; rkey: string; record?: RecordValue }
export type CommitJob = { kind: 'commit'; seq: number; time: string; did: string; rev: string; writes: CommitJobWrite[] }
export type CommitterJob = InitJob | CommitJob
/** Frames in seq order; an init job also reports the account's signing key (did:key). */
export type CommitterResult = { frames: Uint8Array[]; signingKey?: string }

type RepoState = { keypair: Secp256k1Keypair; data: MST; commitRev: string }
type RepoOp = { action: string; path: string; cid: Cid | null; prev?: Cid }

export class Committer {
  private readonly repos = new Map<string, RepoState>()
  // The MST only reads storage for nodes it has not loaded; every node here was built in memory.
  private readonly storage = new MemoryBlockstore()

  constructor(private readonly seed: string) {}

  async run(job: CommitterJob): Promise<CommitterResult> {
    return job.kind === 'init' ? this.init(job) : { frames: [await this.commit(job)] }
  }

  private async init(job: InitJob): Promise<CommitterResult> {
    const keypair = await accountKeypair(this.seed, job.index)
    const data = await MST.create(this.storage)
    const blocks = new BlockMap()
    blocks.addMap((await DataDiff.of(data, null)).newMstBlocks)
    const commit = await signCommit({ did: job.did, version: 3, rev: job.rev, prev: null, data: await data.getPointer() }, keypair)
    const commitCid = await blocks.add(commit)
    this.repos.set(job.did, { keypair, data, commitRev: job.rev })
    const commitFrame = encodeMessageFrame('#commit', {
      seq: job.seq, rebase: false, tooBig: false, repo: job.did, commit: commitCid, rev: job.rev, since: null,
      blocks: await blocksToCarFile(commitCid, blocks), ops: [], blobs: [], time: job.time,
    })
    const syncBlocks = new BlockMap()
    syncBlocks.set(commitCid, blocks.get(commitCid)!)
    const syncFrame = encodeMessageFrame('#sync', {
      seq: job.seq + 1, did: job.did, rev: job.rev, blocks: await blocksToCarFile(commitCid, syncBlocks), time: job.syncTime,
    })
    return { frames: [commitFrame, syncFrame], signingKey: keypair.did() }
  }

  private async commit(job: CommitJob): Promise<Uint8Array> {
    const repo = this.repos.get(job.did)
    if (!repo) throw new Error(`commit for ${job.did} before its init commit`)
    const prevTree = repo.data
    const leaves = new BlockMap()
    const ops: RepoOp[] = []
    let data = prevTree
    for (const write of job.writes) {
      const path = `${write.collection}/${write.rkey}`
      // Like the PDS, `prev` is whatever the repo currently holds at the path.
      const prev = write.action === 'create' ? null : await data.get(path)
      if (write.action === 'delete') {
        data = await data.delete(path)
        ops.push({ action: 'delete', path, cid: null, prev: prev! })
        continue
      }
      const cid = await leaves.add(write.record!)
      data = write.action === 'create' ? await data.add(path, cid) : await data.update(path, cid)
      ops.push(prev ? { action: write.action, path, cid, prev } : { action: write.action, path, cid })
    }
    const dataCid = await data.getPointer()
    const diff = await DataDiff.of(data, prevTree)
    const blocks = new BlockMap()
    blocks.addMap(diff.newMstBlocks)
    blocks.addMap(leaves)
    for (const op of ops) blocks.addMap(await data.getCoveringProof(op.path))
    const commit = await signCommit({ did: job.did, version: 3, rev: job.rev, prev: null, data: dataCid }, repo.keypair)
    const commitCid = await blocks.add(commit)
    const since = repo.commitRev
    const prevData = await prevTree.getPointer()
    repo.data = data
    repo.commitRev = job.rev
    return encodeMessageFrame('#commit', {
      seq: job.seq, rebase: false, tooBig: false, repo: job.did, commit: commitCid, rev: job.rev, since,
      blocks: await blocksToCarFile(commitCid, blocks), ops, blobs: [], prevData, time: job.time,
    })
  }
}
