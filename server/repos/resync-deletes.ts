// What a resync must delete: every indexed record of the repository that its fetched CAR no longer holds. A merge
// join of two sorted streams — the CAR's keys in MST order and the repo's rows in URI order, read a page at a time —
// so memory stays one page whatever the repo's size. The deletes carry the resync's rev: the writer removes only
// rows older than that and leaves a tombstone, so a record a newer live op wrote meanwhile is never undone.
import type { DeleteOp } from '../events/index.js'
import type pg from 'pg'
import { storedRecords } from './stored-records.js'

/** A record key of the fetched repository, `collection/rkey`, in the MST's (bytewise) order. */
export type CarKey = { key: string }

export type ResyncCommit = {
  did: string
  /** the fetched commit's rev: a row written by a later commit survives */
  rev: string
  /** when the repository was fetched: the deletes' `time` */
  time: string
}

/** Delete ops (seq 0, the resync's rev) for each row of `commit.did` whose key `keys` does not yield. */
export async function* resyncDeletes(
  db: Pick<pg.Pool, 'query'>,
  commit: ResyncCommit,
  keys: AsyncIterable<CarKey> | Iterable<CarKey>,
  options: { pageSize?: number } = {},
): AsyncGenerator<DeleteOp> {
  const car = (Symbol.asyncIterator in keys ? keys[Symbol.asyncIterator]() : keys[Symbol.iterator]()) as
    | AsyncIterator<CarKey>
    | Iterator<CarKey>
  let previous = ''
  const nextCarKey = async (): Promise<string | null> => {
    const step = await car.next()
    if (step.done) return null
    const key = step.value.key
    if (key <= previous) throw new Error(`resync of ${commit.did}: CAR key "${key}" does not sort after "${previous}"`)
    previous = key
    return key
  }
  let carKey = await nextCarKey()
  for await (const { key: rowKey } of storedRecords(db, commit.did, options.pageSize)) {
    while (carKey !== null && carKey < rowKey) carKey = await nextCarKey()
    if (carKey === rowKey) continue
    const slash = rowKey.indexOf('/')
    yield {
      kind: 'delete',
      seq: 0,
      time: commit.time,
      did: commit.did,
      rev: commit.rev,
      collection: rowKey.slice(0, slash),
      rkey: rowKey.slice(slash + 1),
      uri: `at://${commit.did}/${rowKey}`,
    }
  }
}
