// The registry of indexed collections. Adding one: its module file, one entry here, its table in a migration.
import { block } from './block.js'
import { follow } from './follow.js'
import { like } from './like.js'
import { list } from './list.js'
import { listitem } from './listitem.js'
import { post } from './post.js'
import { profile } from './profile.js'
import { repost } from './repost.js'
import type { RecordModule } from './types.js'

export const RECORD_MODULES: readonly RecordModule[] = [post, like, repost, follow, block, list, listitem, profile]

const byCollection = new Map(RECORD_MODULES.map((module) => [module.collection, module]))

export function moduleFor(collection: string): RecordModule | undefined {
  return byCollection.get(collection)
}
