// One firehose consumer: a websocket source and the pipeline that drains it into a sink, built in one place for
// the backfill's replay and the live firehose alike. The name is given once and is the cursor's name.
import { Pipeline, type PipelineEnd, type PipelineOptions } from './pipeline.js'
import type { ResumePoint } from './resume-point.js'
import { WebSocketSource, type SourceEvent } from './source.js'

export type ConsumerOptions = Omit<PipelineOptions, 'cursorName' | 'source' | 'resume'> & {
  /** The cursor's name in the cursors table ('backfill', 'firehose'). */
  name: string
  /** Service base of the firehose, e.g. wss://bsky.network. */
  service: string
  stallTimeoutMs: number
  onSourceEvent?: (event: SourceEvent) => void
}

export type Consumer = {
  readonly pipeline: Pipeline
  readonly source: WebSocketSource
  /** Connects, drains until complete, stopped or failed, and closes the socket. */
  run(): Promise<PipelineEnd>
  stop(): Promise<void>
}

export function createConsumer(opts: ConsumerOptions): Consumer {
  const resume: ResumePoint = { seq: opts.startCursor }
  const source = new WebSocketSource({
    service: opts.service,
    stallTimeoutMs: opts.stallTimeoutMs,
    resume,
    onEvent: opts.onSourceEvent,
  })
  const pipeline = new Pipeline({
    cursorName: opts.name,
    source,
    decoder: opts.decoder,
    sink: opts.sink,
    resume,
    throttle: opts.throttle,
    semaphore: opts.semaphore,
    gate: opts.gate,
    watchdog: opts.watchdog,
    startCursor: opts.startCursor,
    stopAtSeq: opts.stopAtSeq,
    flushAfterMs: opts.flushAfterMs,
    nothingReadableAfter: opts.nothingReadableAfter,
    onGap: opts.onGap,
    onCommitted: opts.onCommitted,
    rate: opts.rate,
    log: opts.log,
  })
  return {
    pipeline,
    source,
    async run() {
      source.start()
      try {
        return await pipeline.run()
      } finally {
        await source.close()
      }
    },
    async stop() {
      pipeline.stop()
      await source.close()
    },
  }
}
