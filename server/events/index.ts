// The vocabulary every part shares: what a decoded firehose frame (or a walked repository) becomes. It sits below
// the pipeline and the indexer so that both can speak it without importing each other. Consumers switch on `kind`.
// Every item carries the frame's `seq` so the cursor can be tied to what was written or rejected.

/** A record as decoded from the repo: CIDs as CID objects, bytes as Uint8Array (IPLD data model). */
export type RecordValue = Record<string, unknown>

type RecordOpBase = {
  seq: number
  /** The frame's sequencing time (ISO 8601), set by the source, not by the record's author. */
  time: string
  did: string
  /** The commit's repo revision (a TID): orders ops on one repo. */
  rev: string
  collection: string
  rkey: string
  uri: string
}

export type CreateOp = RecordOpBase & { kind: 'create'; cid: string; record: RecordValue }
export type UpdateOp = RecordOpBase & { kind: 'update'; cid: string; record: RecordValue }
export type DeleteOp = RecordOpBase & { kind: 'delete' }
export type RecordOp = CreateOp | UpdateOp | DeleteOp

export type IdentityEvent = { kind: 'identity'; seq: number; time: string; did: string; handle: string | null }

export type AccountStatus = 'active' | 'takendown' | 'suspended' | 'deactivated' | 'deleted'
export type AccountEvent = { kind: 'account'; seq: number; time: string; did: string; status: AccountStatus }

/**
 * A #commit frame's place in its repo's history, emitted once per commit after its ops: the position a consumer
 * compares with what it applied last (`since` should be that rev, `prevData` that data CID) to know it missed nothing.
 */
export type CommitPosition = {
  kind: 'commit'
  seq: number
  time: string
  did: string
  rev: string
  /** The rev of the commit before this one; null for a repo's first commit. */
  since: string | null
  /** The data (MST root) CID before this commit, when the frame says (Sync 1.1). */
  prevData: string | null
  /** The data (MST root) CID after this commit, read from the signed commit block. */
  data: string
}

/** A #sync frame: the repo's current commit, announced without ops (account creation, repair, migration). */
export type SyncPosition = { kind: 'sync'; seq: number; time: string; did: string; rev: string; data: string }

export type RepoPosition = CommitPosition | SyncPosition

export type RejectCategory =
  | 'frame' // could not be decoded at all (CBOR, header, body shape)
  | 'car' // the commit's CAR could not be read, or a block it names is missing
  | 'verify' // signature or proof verification failed
  | 'record' // a record that fails its lexicon or cannot be mapped to a row
  | 'unsupported' // a well-formed op we do not index (unknown collection): counted, not an error

/** Something the pipeline could not index, kept with its reason so the cursor may pass it honestly. */
export type Reject = {
  kind: 'reject'
  /** null when the frame was too broken to tell its seq; the writer records the last seq seen before it. */
  seq: number | null
  /** For a reject without a seq: the seq of the last frame before its own, set by the batcher. */
  seqBefore?: number | null
  time: string | null
  did: string | null
  uri: string | null
  collection: string | null
  category: RejectCategory
  reason: string
  /** A bounded excerpt of the offending input, for diagnosis. */
  detail: unknown
}

export type PipelineItem = RecordOp | RepoPosition | IdentityEvent | AccountEvent | Reject

/** One firehose frame after decoding: its seq, time and the items it produced (possibly none). */
export type DecodedFrame = {
  /** null for a frame too broken to tell its seq; it never moves the cursor. */
  seq: number | null
  time: string | null
  items: PipelineItem[]
}

/** Frames that carry no seq but change how the source behaves. */
export type ControlFrame =
  | { kind: 'info'; name: string; message: string | null }
  | { kind: 'error'; name: string; message: string | null }

export type DecodeResult = { kind: 'frame'; frame: DecodedFrame } | ControlFrame
