// Control endpoints need `Authorization: Bearer <ADMIN_TOKEN>`. Without a configured token they are disabled (403),
// never open. Digests of equal length are compared in constant time, so timing reveals nothing of the token.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { RequestHandler } from 'express'

const digest = (text: string) => createHash('sha256').update(text).digest()

export function requireAdmin(adminToken: string | null): RequestHandler {
  const expected = adminToken === null ? null : digest(adminToken)
  return (req, res, next) => {
    if (expected === null) {
      res.status(403).json({ error: 'Forbidden', message: 'control endpoints are disabled: set ADMIN_TOKEN to enable them' })
      return
    }
    const header = req.get('authorization') ?? ''
    const match = /^Bearer (.+)$/.exec(header)
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      res.set('WWW-Authenticate', 'Bearer').status(401).json({ error: 'Unauthorized', message: 'a valid admin bearer token is required' })
      return
    }
    next()
  }
}
