import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createAuthenticate, requireAdmin } from '../plugins/authenticate.js'
import {
  AuditEventListSchema,
  ListAuditEventsQuerySchema,
  OwnSecurityEventsQuerySchema,
  toAuditEventOut,
} from '../schemas/audit.js'
import { errorResponses } from '../schemas/common.js'
import type { AuditEventPage } from '../services/audit.js'
import type { Services } from '../services/index.js'

export interface AuditRoutesOptions {
  services: Services
}

const security = [{ OAuth2PasswordBearer: [] }]

const instant = (text: string | undefined) => (text === undefined ? undefined : new Date(text))

const toPage = (page: AuditEventPage) => ({
  items: page.items.map(toAuditEventOut),
  next_cursor: page.nextCursor,
})

const KEYSET =
  'Newest first, by keyset pagination on `(at, id)`: pass `next_cursor` back as `cursor` for ' +
  'the next page (null on the last one); every page costs the same however deep it is. ' +
  '`since` is inclusive, `until` exclusive. A cursor that was not produced by this API is `422`.'

/** The audit log: every event for admins, and each user's own security events. */
export const auditRoutes: FastifyPluginAsyncTypebox<AuditRoutesOptions> = async (
  app,
  { services },
) => {
  const { audit } = services
  const authenticate = createAuthenticate(services.tokens)

  app.get(
    '/audit-events',
    {
      preValidation: [authenticate, requireAdmin],
      schema: {
        tags: ['audit'],
        summary: 'Audit log (admin)',
        operationId: 'listAuditEvents',
        description: `Security events, recorded in the same transaction as the change they describe. ${KEYSET} Filters combine.`,
        security,
        querystring: ListAuditEventsQuerySchema,
        response: { 200: AuditEventListSchema, ...errorResponses(401, 403, 422) },
      },
    },
    async (request) => {
      const { user_id, actor_id, since, until, ...query } = request.query
      const page = await audit.list({
        ...query,
        userId: user_id,
        actorId: actor_id,
        since: instant(since),
        until: instant(until),
      })
      return toPage(page)
    },
  )

  app.get(
    '/users/me/security-events',
    {
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'My security events',
        operationId: 'listMySecurityEvents',
        description: `The events about the signed-in user's account: logins and failed ones, sessions ended, password and profile changes. Where an admin acted, the admin's address and browser are not shown. ${KEYSET}`,
        security,
        querystring: OwnSecurityEventsQuerySchema,
        response: { 200: AuditEventListSchema, ...errorResponses(401, 422) },
      },
    },
    async (request) => {
      const { since, until, ...query } = request.query
      const page = await audit.listOwn(request.user.id, {
        ...query,
        since: instant(since),
        until: instant(until),
      })
      return toPage(page)
    },
  )
}
