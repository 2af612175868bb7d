// app.bsky.graph.getFollowers: who follows an actor, most recent follow first, by served accounts only.
import { afterCursorSql, sortKeySql } from './cursor.js'
import { servedSql } from './data.js'
import { followPage } from './follows.js'
import type { XrpcQuery } from './method.js'

const FOLLOWERS_SQL = `
  SELECT f.uri, f.did AS other, false AS unknown, ${sortKeySql('f.created_at')} AS sort_key
    FROM follows f JOIN actors a ON a.did = f.did
   WHERE f.subject_did = $1 AND ${servedSql('a')} AND ${afterCursorSql('f.created_at', 'f.uri', 2, 3)}
   ORDER BY f.created_at DESC, f.uri ASC
   LIMIT $4`

export const getFollowers: XrpcQuery = {
  nsid: 'app.bsky.graph.getFollowers',
  async handler(ctx, query) {
    const page = await followPage(ctx, query, FOLLOWERS_SQL)
    return { subject: page.subject, followers: page.profiles, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) }
  },
}
