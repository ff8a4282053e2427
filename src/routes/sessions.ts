import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createAuthenticate, requireAdmin } from '../plugins/authenticate.js'
import { requestContext } from '../plugins/request-context.js'
import { errorResponses, noContent } from '../schemas/common.js'
import { SessionListSchema, SessionParamsSchema, toSessionOut } from '../schemas/sessions.js'
import { UserIdParamsSchema } from '../schemas/users.js'
import type { Services } from '../services/index.js'

export interface SessionsRoutesOptions {
  services: Services
}

const security = [{ OAuth2PasswordBearer: [] }]
const ENDS_AT_ONCE =
  "An ended session's refresh tokens are revoked and its access tokens get `401` from the next request on, on every instance."

/**
 * Sessions (logins) of the signed-in user and, for admins, of any user; under `/users`.
 * Long on purpose, like the other route plugins: one registration per route, in path order.
 */
export const sessionsRoutes: FastifyPluginAsyncTypebox<SessionsRoutesOptions> = async (
  app,
  { services },
) => {
  const { sessions } = services
  const authenticate = createAuthenticate(services.tokens)
  const adminOnly = [authenticate, requireAdmin]

  app.get(
    '/me/sessions',
    {
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'My sessions',
        operationId: 'listMySessions',
        description:
          'The live sessions (logins) of the signed-in user, newest first; `current` marks the ' +
          'one of the token that asked. A session lasts `REFRESH_TOKEN_TTL` after its last refresh, and never longer than `SESSION_MAX_AGE` after its login.',
        security,
        response: { 200: SessionListSchema, ...errorResponses(401) },
      },
    },
    async (request) => ({
      items: (await sessions.listOwn(request.user.id, request.sessionId)).map(toSessionOut),
    }),
  )

  app.delete(
    '/me/sessions/:id',
    {
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'End one of my sessions',
        operationId: 'endMySession',
        description: `Ends one session of the signed-in user; the current one too (a logout). ${ENDS_AT_ONCE} An id that is not a live session of this user, another user's included, is \`404\`.`,
        security,
        params: SessionParamsSchema,
        response: { 204: noContent('Ended'), ...errorResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      await sessions.endOwn(request.user.id, request.params.id, requestContext(request))
      return reply.code(204).send(null)
    },
  )

  app.delete(
    '/me/sessions',
    {
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'End my other sessions',
        operationId: 'endMyOtherSessions',
        description: `Ends every session of the signed-in user but the current one. ${ENDS_AT_ONCE}`,
        security,
        response: { 204: noContent('Ended'), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      await sessions.endOthers(request.user.id, request.sessionId, requestContext(request))
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/:id/sessions',
    {
      preValidation: adminOnly,
      schema: {
        tags: ['users'],
        summary: "A user's sessions (admin)",
        operationId: 'listUserSessions',
        description: 'The live sessions of a user, newest first. An unknown user is `404`.',
        security,
        params: UserIdParamsSchema,
        response: { 200: SessionListSchema, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => ({
      items: (await sessions.listForUser(request.params.id, request.sessionId)).map(toSessionOut),
    }),
  )

  app.delete(
    '/:id/sessions',
    {
      preValidation: adminOnly,
      schema: {
        tags: ['users'],
        summary: "End a user's sessions (admin)",
        operationId: 'endUserSessions',
        description: `Ends every session of a user. ${ENDS_AT_ONCE} An unknown user is \`404\`.`,
        security,
        params: UserIdParamsSchema,
        response: { 204: noContent('Ended'), ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await sessions.endAllForUser(request.params.id, requestContext(request))
      return reply.code(204).send(null)
    },
  )
}
