import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createAuthenticate, requireAdmin } from '../plugins/authenticate.js'
import type { LoginThrottleFor } from '../plugins/rate-limit.js'
import { requestContext } from '../plugins/request-context.js'
import { errorResponses, noContent } from '../schemas/common.js'
import {
  ChangeEmailBodySchema,
  ConfirmEmailChangeBodySchema,
  EmailChangePendingSchema,
  ListUsersQuerySchema,
  type PatchUserBody,
  PatchUserBodySchema,
  toUserOut,
  UserIdParamsSchema,
  UserListSchema,
  UserOutSchema,
} from '../schemas/users.js'
import type { Services } from '../services/index.js'
import type { UserPatch } from '../services/users.js'

export interface UsersRoutesOptions {
  services: Services
  /** A wrong `current_password` counts as a failed login of that account. */
  loginThrottleFor: LoginThrottleFor
}

const security = [{ OAuth2PasswordBearer: [] }]

/** The body in the domain's terms; absent fields stay absent. */
function toUserPatch(body: PatchUserBody): UserPatch {
  const { full_name, current_password, is_verified, is_active, ...same } = body
  return {
    ...same,
    fullName: full_name,
    currentPassword: current_password,
    isVerified: is_verified,
    isActive: is_active,
  }
}

/**
 * Long on purpose: one registration per route (schema, config, a handler of a few lines
 * that maps the body to a service call), so the routes read as a table in path order.
 */
export const usersRoutes: FastifyPluginAsyncTypebox<UsersRoutesOptions> = async (
  app,
  { services, loginThrottleFor },
) => {
  const { users } = services
  const authenticate = createAuthenticate(services.tokens)
  const adminOnly = [authenticate, requireAdmin]

  app.get(
    '/me',
    {
      preValidation: [authenticate],
      // Reachable by an admin who must enrol in MFA first (REQUIRE_ADMIN_MFA).
      config: { mfaEnrolment: true },
      schema: {
        tags: ['users'],
        summary: 'The signed-in user',
        operationId: 'getMe',
        description:
          'Returns the user the access token belongs to; `401` when the user was deleted, ' +
          'deactivated or marked unverified since.',
        security,
        response: { 200: UserOutSchema, ...errorResponses(401) },
      },
    },
    async (request) => toUserOut(request.user),
  )

  app.post(
    '/me/email',
    {
      // It checks a password and sends mail: the strict limit of the routes that do.
      config: { requestLimit: 'strict' },
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'Change your e-mail address',
        operationId: 'requestEmailChange',
        description:
          'Checks `current_password` first (wrong: `422 invalid_credentials` at ' +
          '`["body", "current_password"]`, counted as a failed login of the account, so ' +
          'repeated guesses get `429` as login does), then refuses an address already ' +
          'registered (`409 email_taken`) and e-mails a 6-digit code to `new_email`. Nothing ' +
          'changes until the code is confirmed. A new request replaces a pending one and its ' +
          'code. Codes follow the rules of the other codes: at most 3 are sent per address in ' +
          '15 minutes (beyond that nothing is sent, the last code stays valid, and the answer ' +
          'is the same `202`).',
        security,
        body: ChangeEmailBodySchema,
        response: { 202: EmailChangePendingSchema, ...errorResponses(401, 409, 422, 429) },
      },
    },
    async (request, reply) => {
      const { new_email, current_password } = request.body
      await services.emailChange.request(
        request.user,
        { newEmail: new_email, currentPassword: current_password },
        loginThrottleFor(request),
        requestContext(request),
      )
      return reply.code(202).send({ detail: 'A code is on its way to the new address' })
    },
  )

  app.post(
    '/me/email/confirm',
    {
      config: { requestLimit: 'strict' },
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'Confirm your new e-mail address',
        operationId: 'confirmEmailChange',
        description:
          'Applies the pending change with the code sent to the new address, which becomes ' +
          'the login and counts as verified; codes sent to the old address stop working, and ' +
          'the old address is told of the change. A wrong, expired, used or replaced code is ' +
          '`400 invalid_code`; a code is burned after 5 wrong tries, and after 10 wrong tries ' +
          'in any hour every code is refused until an hour after the 10th. If the address was ' +
          'registered meanwhile, `409 email_taken`, and the pending change ends.',
        security,
        body: ConfirmEmailChangeBodySchema,
        response: { 200: UserOutSchema, ...errorResponses(400, 401, 409, 422, 429) },
      },
    },
    async (request) =>
      toUserOut(
        await services.emailChange.confirm(
          request.user,
          request.body.code,
          requestContext(request),
        ),
      ),
  )

  app.get(
    '/',
    {
      // `/users`, as the contract names it; not `/users/` as well.
      prefixTrailingSlash: 'no-slash',
      preValidation: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'List users (admin)',
        operationId: 'listUsers',
        description:
          'Newest first, by keyset pagination on `(created_at, id)`: pass `next_cursor` back as ' +
          '`cursor` for the next page (null on the last one); every page costs the same however ' +
          'deep it is. Filters combine; `q` is a case-insensitive prefix of the e-mail address ' +
          'or the full name. A cursor that was not produced by this API is `422`.',
        security,
        querystring: ListUsersQuerySchema,
        response: { 200: UserListSchema, ...errorResponses(401, 403, 422) },
      },
    },
    async (request) => {
      const { is_verified, is_active, ...query } = request.query
      const page = await users.listUsers({ ...query, isVerified: is_verified, isActive: is_active })
      return { items: page.items.map(toUserOut), next_cursor: page.nextCursor }
    },
  )

  app.get(
    '/:id',
    {
      preValidation: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'Get a user (admin)',
        operationId: 'getUser',
        description: 'One user by id. A malformed id is `422`, an unknown one `404`.',
        security,
        params: UserIdParamsSchema,
        response: { 200: UserOutSchema, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request) => toUserOut(await users.getUser(request.params.id)),
  )

  app.patch(
    '/:id',
    {
      preValidation: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'Update a user',
        operationId: 'updateUser',
        description:
          'Users may change their own `full_name`, and their `password` together with ' +
          '`current_password` (missing: `422`; wrong: `422 invalid_credentials` at ' +
          '`["body", "current_password"]`, counted as a failed login of that account, so ' +
          'repeated guesses get `429` as login does). Admins may change any user, including `email` ' +
          '(`409 email_taken`), `role`, `is_verified`, `is_active` and `password` without ' +
          '`current_password`. A non-admin touching another user, or an admin-only field, gets ' +
          '`403`. A password change logs the user out everywhere: earlier access tokens are ' +
          'rejected and refresh tokens revoked; deactivation and `is_verified: false` do the ' +
          'same, and the user gets `401` on every token until reactivated or re-verified. The ' +
          'last active verified admin cannot be demoted, deactivated or unverified ' +
          '(`409 last_admin`).',
        security,
        params: UserIdParamsSchema,
        body: PatchUserBodySchema,
        response: { 200: UserOutSchema, ...errorResponses(401, 403, 404, 409, 422, 429) },
      },
    },
    async (request) => {
      const patch = toUserPatch(request.body)
      const throttle = loginThrottleFor(request)
      const context = requestContext(request)
      const { id } = request.params
      return toUserOut(await users.updateUser(request.user, id, patch, throttle, context))
    },
  )

  app.delete(
    '/:id',
    {
      preValidation: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'Delete a user (admin)',
        operationId: 'deleteUser',
        description:
          'Deletes the user with their codes and refresh tokens; their access tokens stop ' +
          'working at once. The last active verified admin cannot be deleted (`409 last_admin`).',
        security,
        params: UserIdParamsSchema,
        response: { 204: noContent('Deleted'), ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      await users.deleteUser(request.params.id, requestContext(request))
      return reply.code(204).send(null)
    },
  )
}
