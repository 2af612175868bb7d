// A firehose source's connection as the operator needs to see it: is it reaching the relay, and if not, why.
// An open socket that has brought no frame yet is not called connected: a relay that accepts connections and
// sends nothing is as broken, to the user, as one that refuses them.
import type { SourceStats } from '../pipeline/source.js'

export type SourceConnection = {
  state: 'connecting' | 'retrying' | 'connected' | null
  error: string | null
  bufferedFrames: number
  bufferedBytes: number
  paused: boolean
}

/** The connection state a source's stats and its last disconnect reason say. */
export function sourceConnection(stats: SourceStats | null, lastError: string | null): SourceConnection {
  // No subscription yet (locating, or waiting to start): only a failed attempt to reach the source says anything.
  if (!stats) return { state: lastError ? 'retrying' : null, error: lastError, bufferedFrames: 0, bufferedBytes: 0, paused: false }
  const flowing = stats.connected && stats.framesThisConnection > 0
  return {
    state: flowing ? 'connected' : lastError ? 'retrying' : 'connecting',
    error: flowing ? null : lastError,
    bufferedFrames: stats.bufferedFrames,
    bufferedBytes: stats.bufferedBytes,
    paused: stats.paused,
  }
}
