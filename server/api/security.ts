// What every response shares: security headers, a bounded JSON body, CORS for the public XRPC reads, the JSON
// answer for unknown XRPC methods, and the error handler (which never sends a stack trace: a client gets a name and
// a message; the operator gets the stack in the log).
import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import { isDatabaseUnavailable } from '../db/errors.js'
import { ApiError } from './params.js'

/**
 * For a same-origin dashboard built by Vite: scripts, styles, fonts and data only from this origin (no inline
 * script or style, no eval), images also as data:/blob: URLs, and never framed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Origin-Agent-Cluster': '?1',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()',
  'X-DNS-Prefetch-Control': 'off',
  'X-Permitted-Cross-Domain-Policies': 'none',
}

export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.set(HEADERS)
    next()
  }
}

export const JSON_BODY_LIMIT = '16kb'

/** JSON bodies up to 16 kB; larger ones are answered 413 by the error handler. */
export function jsonBody(): RequestHandler {
  return express.json({ limit: JSON_BODY_LIMIT })
}

/**
 * XRPC reads are public and unauthenticated, so any origin may call them (as the Bluesky appview allows): `*`,
 * without credentials. Preflights are answered here. Mount on '/xrpc'.
 */
export function xrpcCors(): RequestHandler {
  return (req, res, next) => {
    res.set({
      'Access-Control-Allow-Origin': '*',
      // A browser reads XRPC responses cross-origin; the resource policy above would otherwise block no-cors loads.
      'Cross-Origin-Resource-Policy': 'cross-origin',
    })
    if (req.method === 'OPTIONS') {
      res.set({
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': req.get('access-control-request-headers') ?? 'Content-Type',
        'Access-Control-Max-Age': '86400',
      })
      res.status(204).end()
      return
    }
    next()
  }
}

/**
 * The answer for an XRPC method this server does not have. XRPC says 501 MethodNotImplemented (what
 * @atproto/xrpc-server sends, and what clients map to ResponseType.MethodNotImplemented). Mount on '/xrpc', after
 * the methods.
 */
export function xrpcNotFound(): RequestHandler {
  return (req, res) => {
    const nsid = req.path.replace(/^\//, '').slice(0, 256)
    res.status(501).json({ error: 'MethodNotImplemented', message: `Method Not Implemented: ${JSON.stringify(nsid)}` })
  }
}

/** A known query method called with another HTTP method. */
export function wrongHttpMethod(): RequestHandler {
  return (req, res) => {
    res.status(400).json({ error: 'InvalidRequest', message: `Incorrect HTTP method (${req.method.slice(0, 16)}) expected GET` })
  }
}

type BodyParserError = { type?: unknown; status?: unknown; expose?: unknown }

/** Last in the chain. Logs what is not the client's fault; answers JSON with no stack and no internal detail. */
export function errorHandler(log: (line: string) => void = console.error): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err)
      return
    }
    if (err instanceof ApiError) {
      res.status(err.status).json({ error: err.error, message: err.message })
      return
    }
    const e = err as BodyParserError
    if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: 'PayloadTooLarge', message: `request body is larger than ${JSON_BODY_LIMIT}` })
      return
    }
    if (e?.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'InvalidRequest', message: 'request body is not valid JSON' })
      return
    }
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
      // Other body-parser refusals (charset, encoding): the client's mistake, with a safe, generic message.
      res.status(e.status).json({ error: 'InvalidRequest', message: 'request body could not be read' })
      return
    }
    if (isDatabaseUnavailable(err)) {
      log(`[API] ${req.method} ${req.path}: database unavailable: ${(err as Error)?.message ?? String(err)}`)
      res.status(503).json({ error: 'DatabaseUnavailable', message: 'the database is not reachable; try again shortly' })
      return
    }
    log(`[API] ${req.method} ${req.path} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    res.status(500).json({ error: 'InternalServerError', message: 'Internal Server Error' })
  }
}
