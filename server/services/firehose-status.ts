// What the live firehose shows of itself, kept apart from the service so that the API thread, which only shows it,
// does not load the service's WebSocket client and pipeline.
export type FirehoseState = 'standby' | 'waiting' | 'connecting' | 'retrying' | 'live' | 'failed' | 'stopped'

export type FirehoseStatus = {
  state: FirehoseState | 'off'
  /** The instance indexing the live firehose (this one when live), when known. */
  holder: string | null
  cursor: number | null
  received: number
  processed: number
  eventsPerSecond: number
  error: string | null
}

/** What is shown when the live firehose is turned off (FIREHOSE_ENABLED=false). */
export const FIREHOSE_OFF: FirehoseStatus = { state: 'off', holder: null, cursor: null, received: 0, processed: 0, eventsPerSecond: 0, error: null }
