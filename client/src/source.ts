// The connection to the source (the relay), in the headline rather than only in the log: while the backfill locates
// or retries, and while the live firehose connects or retries, the state and the last error are shown. Servers that
// do not report it (no backfill `source`, no firehose error) get nothing shown for it.
import type { LivePayload } from './types.js'
import { field } from './dom.js'

/** The backfill's connection to the source, when the server reports it. */
type SourceStatus = { state: 'connecting' | 'retrying' | 'connected' | null; error: string | null }

const UNSETTLED = new Set(['connecting', 'retrying', 'failed'])

function show(name: string, state: string | null, text: string): void {
  const node = field(name)
  node.textContent = text
  node.hidden = text === ''
  if (state) node.dataset.state = state
  else delete node.dataset.state
}

export function renderSources({ backfill, firehose }: LivePayload): void {
  const source = (backfill as { source?: SourceStatus | null }).source
  const backfillText =
    source && (source.state === 'connecting' || source.state === 'retrying')
      ? `Source: ${source.state === 'connecting' ? 'connecting…' : 'retrying'}${source.error ? ` (last error: ${source.error})` : ''}`
      : ''
  show('source-status', source?.state ?? null, backfillText)
  // The generic error line would only repeat the source's error.
  if (backfillText && source?.error && source.error === backfill.error) field('error').hidden = true

  const state: string = firehose.state
  const error = 'error' in firehose ? firehose.error : null
  show('firehose-detail', state, UNSETTLED.has(state) ? `Firehose ${state}${error ? `: ${error}` : ''}` : '')
}
