import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { LoginThrottleFor } from '../plugins/rate-limit.js'
import { requestContext } from '../plugins/request-context.js'
import {
  AcceptedSchema,
  EmailBodySchema,
  type LoginFormBody,
  LoginFormBodySchema,
  type LoginJsonBody,
  LoginJsonBodySchema,
  RefreshBodySchema,
  ResetPasswordBodySchema,
  SignupBodySchema,
  type TokenPair,
  TokenPairSchema,
  VerifyBodySchema,
} from '../schemas/auth.js'
import { errorResponses, noContent } from '../schemas/common.js'
import { LoginUnauthorizedSchema } from '../schemas/mfa.js'
import { toUserOut, UserOutSchema } from '../schemas/users.js'
import type { TokenPair as IssuedPair } from '../services/auth.js'
import type { Services } from '../services/index.js'

export interface AuthRoutesOptions {
  services: Services
  /** The login throttle for the request's client; login reports its outcome to it. */
  loginThrottleFor: LoginThrottleFor
}

const ACCEPTED = { detail: 'If the account exists, an e-mail is on its way' }

/** The contract's token pair (`Cache-Control: no-store` comes from plugins/no-store). */
export function tokenPair(pair: IssuedPair): TokenPair {
  return {
    access_token: pair.accessToken,
    refresh_token: pair.refreshToken,
    token_type: 'bearer',
    expires_in: pair.expiresInSeconds,
  }
}

/**
 * Long on purpose: one registration per route (schema, config, a handler of a few lines
 * that maps the body to a service call), so the routes read as a table in path order.
 */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (
  app,
  { services, loginThrottleFor },
) => {
  const { auth } = services

  app.post(
    '/signup',
    {
      config: { requestLimit: 'strict', outcome: 'signup' },
      schema: {
        tags: ['auth'],
        summary: 'Sign up',
        operationId: 'signup',
        security: [],
        description:
          'Creates an unverified account and e-mails a 6-digit verification code. The e-mail is stored trimmed and lower-cased; a password from a common-password list is `422 weak_password`.',
        body: SignupBodySchema,
        response: { 201: UserOutSchema, ...errorResponses(409, 422, 429) },
      },
    },
    async (request, reply) => {
      const { email, password, full_name } = request.body
      const user = await auth.signup(
        { email, password, fullName: full_name },
        requestContext(request),
      )
      return reply.code(201).send(toUserOut(user))
    },
  )

  app.post(
    '/verify',
    {
      config: { requestLimit: 'strict', outcome: 'verification' },
      schema: {
        tags: ['auth'],
        summary: 'Verify the e-mail address',
        operationId: 'verifyEmail',
        security: [],
        description:
          'Checks the 6-digit code sent at sign-up. A code is single use, expires, and is burned after 5 wrong tries. An account allows 10 wrong tries in any hour across re-sent codes; past that every code is refused, the right one too, until an hour after the 10th. All of these, and an unknown address, are `400 invalid_code`.',
        body: VerifyBodySchema,
        response: { 200: UserOutSchema, ...errorResponses(400, 409, 422, 429) },
      },
    },
    async (request) => {
      const { email, code } = request.body
      return toUserOut(await auth.verifyEmail(email, code, requestContext(request)))
    },
  )

  app.post(
    '/verify/resend',
    {
      config: { requestLimit: 'strict' },
      schema: {
        tags: ['auth'],
        summary: 'Send a new verification code',
        operationId: 'resendCode',
        security: [],
        description:
          'Always `202`, so the answer does not reveal whether an account exists. An unverified account gets a new code, which replaces the previous one. At most 3 codes per address are sent in 15 minutes (the sign-up code counts); beyond that nothing is sent, the last code stays valid, and the answer is the same.',
        body: EmailBodySchema,
        response: { 202: AcceptedSchema, ...errorResponses(422, 429) },
      },
    },
    async (request, reply) => {
      await auth.resendCode(request.body.email)
      return reply.code(202).send(ACCEPTED)
    },
  )

  // Its own context: only the login route accepts an HTML/OAuth2 form body, and nothing
  // but JSON and that form (each with its schema) reaches its handler.
  await app.register(async (scope) => {
    scope.removeContentTypeParser('text/plain')
    await scope.register(formbody)
    scope.post(
      '/login',
      {
        config: { requestLimit: 'strict', outcome: 'login' },
        schema: {
          tags: ['auth'],
          summary: 'Log in',
          operationId: 'login',
          security: [],
          description:
            "JSON `{email, password}`, or the OAuth2 password form (`username`, `password`; `grant_type`, `scope`, `client_id`, `client_secret` and a Basic `Authorization` header are accepted and ignored) so Swagger UI's *Authorize* button works. Unknown e-mail and wrong password give the same `401`; only with the right password are `403 email_not_verified` and `403 inactive_user` told. With two-factor authentication on, the right password answers `401 mfa_required` with an `mfa_token` for POST /auth/mfa/verify (also as OAuth2's `error`, which Swagger UI shows).",
          body: {
            content: {
              'application/json': { schema: LoginJsonBodySchema },
              'application/x-www-form-urlencoded': { schema: LoginFormBodySchema },
            },
          },
          response: {
            200: TokenPairSchema,
            ...errorResponses(403, 422, 429),
            401: LoginUnauthorizedSchema,
          },
        },
      },
      async (request) => {
        const body = request.body as LoginJsonBody | LoginFormBody
        const email = 'username' in body ? body.username : body.email
        const pair = await auth.login(
          email,
          body.password,
          loginThrottleFor(request),
          requestContext(request),
        )
        return tokenPair(pair)
      },
    )
  })

  app.post(
    '/refresh',
    {
      config: { outcome: 'refresh' },
      schema: {
        tags: ['auth'],
        summary: 'Refresh the tokens',
        operationId: 'refresh',
        security: [],
        description:
          'Spends the refresh token and returns a new pair of the same login. A spent token presented again within `REFRESH_REUSE_GRACE` is `401`; after it, the whole login is revoked (reuse detection). A token of a user who is now inactive or unverified is `401`.',
        body: RefreshBodySchema,
        response: { 200: TokenPairSchema, ...errorResponses(401, 422, 429) },
      },
    },
    async (request) =>
      tokenPair(await auth.refresh(request.body.refresh_token, requestContext(request))),
  )

  app.post(
    '/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log out',
        operationId: 'logout',
        security: [],
        description: 'Revokes every refresh token of the login this token belongs to.',
        body: RefreshBodySchema,
        response: { 204: noContent('No content'), ...errorResponses(401, 422, 429) },
      },
    },
    async (request, reply) => {
      await auth.logout(request.body.refresh_token, requestContext(request))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/password/forgot',
    {
      config: { requestLimit: 'strict' },
      schema: {
        tags: ['auth'],
        summary: 'Ask for a password-reset code',
        operationId: 'forgotPassword',
        security: [],
        description:
          'Always `202`, so the answer does not reveal whether an account exists. An existing account gets a 6-digit reset code by e-mail, which replaces the previous one. At most 3 codes per address are sent in 15 minutes; beyond that nothing is sent, the last code stays valid, and the answer is the same.',
        body: EmailBodySchema,
        response: { 202: AcceptedSchema, ...errorResponses(422, 429) },
      },
    },
    async (request, reply) => {
      await auth.forgotPassword(request.body.email)
      return reply.code(202).send(ACCEPTED)
    },
  )

  app.post(
    '/password/reset',
    {
      config: { requestLimit: 'strict' },
      schema: {
        tags: ['auth'],
        summary: 'Reset the password with a code',
        operationId: 'resetPassword',
        security: [],
        description:
          'Sets a new password, revokes every refresh token of the user and rejects access tokens issued before, and verifies an unverified account (the code proved the address). A code is single use, expires, and is burned after 5 wrong tries; an account allows 10 wrong reset tries in any hour across re-sent codes, then every code is refused, the right one too, until an hour after the 10th: all `400 invalid_code`.',
        body: ResetPasswordBodySchema,
        response: { 204: noContent('No content'), ...errorResponses(400, 422, 429) },
      },
    },
    async (request, reply) => {
      const { email, code, new_password } = request.body
      await auth.resetPassword({ email, code, newPassword: new_password }, requestContext(request))
      return reply.code(204).send(null)
    },
  )
}
