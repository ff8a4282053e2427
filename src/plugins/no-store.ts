import type { FastifyInstance, onRequestHookHandler, RouteOptions } from 'fastify'

/**
 * Tokens (RFC 6749 §5.1), secrets (a TOTP secret, recovery codes) and personal data
 * (sessions and audit events hold addresses): shapes no cache may keep.
 */
const PRIVATE_SHAPES = new Set([
  'TokenPair',
  'User',
  'UserList',
  'SessionList',
  'AuditEventList',
  'TotpEnrolment',
  'RecoveryCodes',
])

function answersWithPrivateData(route: RouteOptions): boolean {
  const responses = Object.values(route.schema?.response ?? {}) as ({ $id?: unknown } | null)[]
  return responses.some((schema) => PRIVATE_SHAPES.has(String(schema?.$id)))
}

const noStore: onRequestHookHandler = (_request, reply, done) => {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  done()
}

/**
 * `Cache-Control: no-store` on every answer of a route that returns tokens or users, found
 * by its response schemas so that a new such route is covered too. Set as the request
 * arrives, so its errors (401, 413, 422, 429…) carry it as well: a hook of those routes
 * only (the other routes do not pay for a check), first among their own, ahead of the
 * rate limit's. Before the routes.
 */
export function registerNoStore(app: FastifyInstance) {
  app.addHook('onRoute', (route) => {
    if (!answersWithPrivateData(route)) return
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat()
    route.onRequest = [noStore, ...own]
  })
}
