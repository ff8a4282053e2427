import type { FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify'
import { forbidden, unauthorized } from '../core/errors.js'
import type { UserRow } from '../db/schema.js'
import type { TokensService } from '../services/tokens.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `authenticate` guard; routes without it never read it. */
    user: UserRow
    /** The session (`sid`) of the request's access token, set with `user`; null if unnamed. */
    sessionId: string | null
  }
}

const BEARER = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)$/i

/**
 * Route guard (a `preValidation` hook): verifies the bearer access token and loads the user
 * and its session in one query. It runs after the rate limit (an `onRequest` hook, so
 * anonymous calls are counted too) and before validation, so an anonymous caller gets `401`
 * without learning the route's body rules.
 */
export function createAuthenticate(tokens: TokensService): preValidationAsyncHookHandler {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply) {
    const header = request.headers.authorization
    if (header === undefined) throw unauthorized('not_authenticated', 'Not authenticated')
    const match = BEARER.exec(header)
    if (!match?.[1]) throw unauthorized('invalid_token', 'Could not validate credentials')
    const { user, sessionId } = await tokens.authenticate(match[1])
    request.user = user
    request.sessionId = sessionId
  }
}

/** Route guard after `authenticate`: admins only. */
export async function requireAdmin(request: FastifyRequest) {
  if (request.user.role !== 'admin') throw forbidden()
}
