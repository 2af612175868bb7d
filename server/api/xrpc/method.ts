// One XRPC query method: its NSID and a handler from validated context and query to the output body. Handlers
// throw ApiError for a client's mistake; anything else is the error handler's to turn into a 500 or 503.
import type { Query } from '../params.js'
import type { ViewContext } from './hydrate.js'

export type XrpcQuery = {
  nsid: string
  handler(ctx: ViewContext, query: Query): Promise<object>
}
