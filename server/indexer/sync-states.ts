// A repository's sync states, apart from the chain logic (repo-chain.ts) so that what only names them (the API
// thread's /metrics) loads nothing else.
export const SYNC_STATES = ['active', 'desynchronized', 'resyncing', 'error'] as const
export type SyncState = (typeof SYNC_STATES)[number]

export function isSyncState(value: string): value is SyncState {
  return (SYNC_STATES as readonly string[]).includes(value)
}
