// Records as the firehose delivers them: every fixture goes through DAG-CBOR so CIDs, bytes and blobs have the
// runtime types the pipeline sees (CID objects from @atproto/lex-data's multiformats, plain blob objects).
import { cborDecode, cborEncode, type LexValue } from '@atproto/lex-cbor'
import { CID } from 'multiformats/cid'
import { expect } from 'vitest'
import { RecordRejection } from '../../../server/indexer/records/types.js'
import type { CreateOp, RecordValue } from '../../../server/events/index.js'

export const ALICE = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
export const BOB = 'did:plc:z72i7hdynmk6r22z27h6tvur'
export const POST_URI = `at://${BOB}/app.bsky.feed.post/3l6oveex3ii2l`
export const POST_CID = 'bafyreidsemiehpaya7tpoqfsgxvxkepmwmzfljvdovbvmmiznxuks5injm'
export const LIST_URI = `at://${ALICE}/app.bsky.graph.list/3kmrtmljoj52r`
export const IMAGE_CID = 'bafkreifstakm6v4s42cm25owu76opjt2cgeh4mjpq7fcvqsjnwa7gzp7oi'
export const AVATAR_CID = 'bafkreiehxpuhtr5f6v4eu4byjo2j7kkrhjvd7psmfu4imnpdzb3bdqb7vy'
export const BANNER_CID = 'bafkreiemp3jntpsz4ioppt6h3j24nqglpxlvd5fiodypsi3pb424xl2yjy'
export const CREATED_AT = '2024-10-15T09:30:00.000Z'

/** Encodes to DAG-CBOR and decodes again, as the repo CAR would hand the record over. */
export function fromFirehose(record: object): RecordValue {
  return cborDecode(cborEncode(record as LexValue)) as RecordValue
}

export function blob(cid: string, mimeType = 'image/jpeg', size = 245_112) {
  return { $type: 'blob', ref: CID.parse(cid), mimeType, size }
}

export function createOp(collection: string, record: object, rkey = '3l6ow2hmlpa2c'): CreateOp {
  return {
    kind: 'create',
    seq: 4_812_334_001,
    time: '2024-10-15T09:30:01.214Z',
    did: ALICE,
    rev: '3l6ow2hnm3s2c',
    collection,
    rkey,
    uri: `at://${ALICE}/${collection}/${rkey}`,
    cid: POST_CID,
    record: fromFirehose(record),
  }
}

export const strongRef = { uri: POST_URI, cid: POST_CID }

/** One realistic record per indexed collection. */
export const SAMPLES = {
  'app.bsky.feed.post': {
    $type: 'app.bsky.feed.post',
    text: 'first light over the harbour',
    langs: ['en'],
    createdAt: CREATED_AT,
  },
  'app.bsky.feed.like': { $type: 'app.bsky.feed.like', subject: strongRef, createdAt: CREATED_AT },
  'app.bsky.feed.repost': { $type: 'app.bsky.feed.repost', subject: strongRef, createdAt: CREATED_AT },
  'app.bsky.graph.follow': { $type: 'app.bsky.graph.follow', subject: BOB, createdAt: CREATED_AT },
  'app.bsky.graph.block': { $type: 'app.bsky.graph.block', subject: BOB, createdAt: CREATED_AT },
  'app.bsky.graph.list': {
    $type: 'app.bsky.graph.list',
    name: 'Harbour photographers',
    purpose: 'app.bsky.graph.defs#curatelist',
    description: 'People who shoot the harbour at dawn',
    createdAt: CREATED_AT,
  },
  'app.bsky.graph.listitem': {
    $type: 'app.bsky.graph.listitem',
    subject: BOB,
    list: LIST_URI,
    createdAt: CREATED_AT,
  },
  'app.bsky.actor.profile': {
    $type: 'app.bsky.actor.profile',
    displayName: 'Alice 🌅',
    description: 'Photographs, mostly of harbours.',
    avatar: blob(AVATAR_CID),
    banner: blob(BANNER_CID, 'image/png', 812_004),
    createdAt: CREATED_AT,
  },
} as const

/** The op a sample record arrives as; profiles live at rkey self. */
export function sampleOp(collection: keyof typeof SAMPLES): CreateOp {
  return createOp(collection, SAMPLES[collection], collection === 'app.bsky.actor.profile' ? 'self' : undefined)
}

/** The reason of the RecordRejection that run throws; fails the test if it throws anything else or nothing. */
export function rejectionOf(run: () => unknown): string {
  try {
    run()
  } catch (err) {
    expect(err).toBeInstanceOf(RecordRejection)
    return (err as Error).message
  }
  throw new Error('expected a RecordRejection, got a result')
}
