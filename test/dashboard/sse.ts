// A minimal server-sent-events reader for tests (fetch + stream parsing, no EventSource needed in Node).
export type SseMessage = { event: string; data: string; comment?: undefined } | { comment: string; event?: undefined; data?: undefined }

export type SseStream = {
  status: number
  headers: Headers
  /** Resolves with the next message matching `match` (comments included), or rejects after timeoutMs. */
  next(match?: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>
  /** Everything received so far. */
  received: SseMessage[]
  close(): void
}

export async function openSse(url: string): Promise<SseStream> {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: controller.signal })
  const received: SseMessage[] = []
  const waiters: { match: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }[] = []
  let consumed = 0
  const deliver = (m: SseMessage) => {
    received.push(m)
    const i = waiters.findIndex((w) => w.match(m))
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m)
  }
  if (res.body) {
    void (async () => {
      const decoder = new TextDecoder()
      let buffer = ''
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true })
          let end: number
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            let event = 'message'
            const data: string[] = []
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) deliver({ comment: line.slice(1).trim() })
              else if (line.startsWith('event:')) event = line.slice(6).trim()
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
            }
            if (data.length) deliver({ event, data: data.join('\n') })
          }
        }
      } catch {
        // aborted
      }
    })()
  }
  return {
    status: res.status,
    headers: res.headers,
    received,
    next(match = () => true, timeoutMs = 5000) {
      const already = received.slice(consumed).find(match)
      if (already) {
        consumed = received.indexOf(already) + 1
        return Promise.resolve(already)
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching SSE message within ${timeoutMs} ms`)), timeoutMs)
        waiters.push({
          match,
          resolve: (m) => {
            clearTimeout(timer)
            consumed = received.length
            resolve(m)
          },
        })
      })
    },
    close: () => controller.abort(),
  }
}
