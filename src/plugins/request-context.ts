import type { FastifyRequest } from 'fastify'
import { type RequestContext, truncateUserAgent } from '../core/request-context.js'
import type { UserRow } from '../db/schema.js'

/**
 * The request as the services see it: plain data (and its logger), never the request
 * itself. `request.ip` already honours TRUST_PROXY; the actor is the user the
 * `authenticate` guard loaded, when the route has it.
 */
export function requestContext(request: FastifyRequest): RequestContext {
  // Decorated as null (app.ts) and set only by the guard.
  const actor = request.user as UserRow | null
  return {
    log: request.log,
    clientAddress: request.ip,
    userAgent: truncateUserAgent(request.headers['user-agent']),
    requestId: request.id,
    actorId: actor?.id ?? null,
  }
}
