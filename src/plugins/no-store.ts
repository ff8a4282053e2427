import type { FastifyInstance, RouteOptions } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set by registerNoStore: the route's answers must not be stored by any cache. */
    noStore?: boolean
  }
}

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

/**
 * `Cache-Control: no-store` on every answer of a route that returns tokens or users, found
 * by its response schemas so that a new such route is covered too. Set as the request
 * arrives, so its errors (401, 413, 422, 429…) carry it as well. Before the routes.
 */
export function registerNoStore(app: FastifyInstance) {
  app.addHook('onRoute', (route) => {
    if (answersWithPrivateData(route)) route.config = { ...route.config, noStore: true }
  })
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config.noStore) {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    }
    done()
  })
}
