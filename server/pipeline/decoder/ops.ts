import { isValidNsid, isValidRecordKey } from '@atproto/syntax'

export type OpTarget = { collection: string; rkey: string }

/** A repo op's MST key split into collection and rkey; null unless it is exactly `nsid/rkey`. */
export function parseOpPath(path: string): OpTarget | null {
  const slash = path.indexOf('/')
  if (slash === -1) return null
  const collection = path.slice(0, slash)
  const rkey = path.slice(slash + 1)
  return isValidNsid(collection) && isValidRecordKey(rkey) ? { collection, rkey } : null
}
