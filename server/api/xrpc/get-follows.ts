// app.bsky.graph.getFollows: whom an actor follows, most recent follow first. Accounts not served are left out;
// accounts never seen on the firehose (no actors row) appear with their DID and handle.invalid.
import { afterCursorSql, sortKeySql } from './cursor.js'
import { servedSql } from './data.js'
import { followPage } from './follows.js'
import type { XrpcQuery } from './method.js'

const FOLLOWS_SQL = `
  SELECT f.uri, f.subject_did AS other, (a.did IS NULL) AS unknown, ${sortKeySql('f.created_at')} AS sort_key
    FROM follows f LEFT JOIN actors a ON a.did = f.subject_did
   WHERE f.did = $1 AND (a.did IS NULL OR ${servedSql('a')}) AND ${afterCursorSql('f.created_at', 'f.uri', 2, 3)}
   ORDER BY f.created_at DESC, f.uri ASC
   LIMIT $4`

export const getFollows: XrpcQuery = {
  nsid: 'app.bsky.graph.getFollows',
  async handler(ctx, query) {
    const page = await followPage(ctx, query, FOLLOWS_SQL)
    return { subject: page.subject, follows: page.profiles, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) }
  },
}
