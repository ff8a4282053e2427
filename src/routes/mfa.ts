import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createAuthenticate, requireAdmin } from '../plugins/authenticate.js'
import type { LoginThrottleFor } from '../plugins/rate-limit.js'
import { requestContext } from '../plugins/request-context.js'
import { TokenPairSchema } from '../schemas/auth.js'
import { errorResponses, noContent } from '../schemas/common.js'
import {
  ConfirmTotpBodySchema,
  MfaChangeBodySchema,
  MfaVerifyBodySchema,
  RecoveryCodesSchema,
  StartTotpBodySchema,
  TotpEnrolmentSchema,
} from '../schemas/mfa.js'
import { UserIdParamsSchema } from '../schemas/users.js'
import type { Services } from '../services/index.js'
import { tokenPair } from './auth.js'

export interface MfaRoutesOptions {
  services: Services
  /** Wrong passwords and codes count as failed logins of the account. */
  loginThrottleFor: LoginThrottleFor
}

const security = [{ OAuth2PasswordBearer: [] }]
const MfaOffSchema = noContent('Two-factor authentication is off')
const CODE_ONCE =
  'A TOTP code is accepted once: the same code, or one of an earlier step, is `400 invalid_code` afterwards.'
const COUNTED =
  'A wrong password is `422 invalid_credentials` at `["body", "current_password"]`, a wrong code `400 invalid_code`; both count as failed logins of the account (`429` when repeated).'

/** Two-factor authentication (TOTP, RFC 6238): enrolment, login's second step, admin reset. */
export const mfaRoutes: FastifyPluginAsyncTypebox<MfaRoutesOptions> = async (
  app,
  { services, loginThrottleFor },
) => {
  const { mfa } = services
  const authenticate = createAuthenticate(services.tokens)

  app.post(
    '/users/me/mfa/totp',
    {
      preValidation: [authenticate],
      config: { requestLimit: 'strict', mfaEnrolment: true },
      schema: {
        tags: ['users'],
        summary: 'Start TOTP enrolment',
        operationId: 'startTotpEnrolment',
        description: `Makes a new TOTP secret (SHA-1, 6 digits, 30 s) and returns it with its \`otpauth://\` URI (issuer "Coffee Shop", the account's e-mail) for an authenticator app. Nothing changes until a first code confirms it within 10 minutes; starting again replaces a pending enrolment. ${COUNTED} \`409 mfa_already_enabled\` when MFA is on.`,
        security,
        body: StartTotpBodySchema,
        response: { 200: TotpEnrolmentSchema, ...errorResponses(401, 409, 422, 429) },
      },
    },
    async (request) => {
      const { secret, otpauthUri } = await mfa.startEnrolment(
        request.user,
        request.body.current_password,
        loginThrottleFor(request),
      )
      return { secret, otpauth_uri: otpauthUri }
    },
  )

  app.post(
    '/users/me/mfa/totp/confirm',
    {
      preValidation: [authenticate],
      config: { requestLimit: 'strict', mfaEnrolment: true },
      schema: {
        tags: ['users'],
        summary: 'Confirm TOTP enrolment',
        operationId: 'confirmTotpEnrolment',
        description:
          'The first code from the authenticator app turns MFA on and returns 10 single-use recovery codes, shown only this once (stored hashed). A wrong code, or no pending enrolment (never started, expired, already confirmed), is `400 invalid_code`, counted as a failed login.',
        security,
        body: ConfirmTotpBodySchema,
        response: { 200: RecoveryCodesSchema, ...errorResponses(400, 401, 422, 429) },
      },
    },
    async (request) => ({
      recovery_codes: await mfa.confirmEnrolment(
        request.user,
        request.body.code,
        loginThrottleFor(request),
        requestContext(request),
      ),
    }),
  )

  app.post(
    '/users/me/mfa/totp/disable',
    {
      preValidation: [authenticate],
      config: { requestLimit: 'strict' },
      schema: {
        tags: ['users'],
        summary: 'Turn MFA off',
        operationId: 'disableMfa',
        description: `Needs the password and a code: a TOTP code or a recovery code. The secret and recovery codes are deleted and the user gets an e-mail. ${COUNTED} ${CODE_ONCE}`,
        security,
        body: MfaChangeBodySchema,
        response: { 204: MfaOffSchema, ...errorResponses(400, 401, 422, 429) },
      },
    },
    async (request, reply) => {
      const { current_password, code } = request.body
      await mfa.disable(
        request.user,
        { currentPassword: current_password, code },
        loginThrottleFor(request),
        requestContext(request),
      )
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/users/me/mfa/recovery-codes',
    {
      preValidation: [authenticate],
      config: { requestLimit: 'strict' },
      schema: {
        tags: ['users'],
        summary: 'New recovery codes',
        operationId: 'regenerateRecoveryCodes',
        description: `Needs the password and a code (TOTP or recovery). Returns 10 new recovery codes, shown only this once; the old ones stop working. ${COUNTED} ${CODE_ONCE}`,
        security,
        body: MfaChangeBodySchema,
        response: { 200: RecoveryCodesSchema, ...errorResponses(400, 401, 422, 429) },
      },
    },
    async (request) => {
      const { current_password, code } = request.body
      const codes = await mfa.regenerateRecoveryCodes(
        request.user,
        { currentPassword: current_password, code },
        loginThrottleFor(request),
        requestContext(request),
      )
      return { recovery_codes: codes }
    },
  )

  app.delete(
    '/users/:id/mfa',
    {
      preValidation: [authenticate, requireAdmin],
      schema: {
        tags: ['users'],
        summary: "Reset a user's MFA (admin)",
        operationId: 'resetUserMfa',
        description:
          'Turns two-factor authentication off for that user (for a lost device) and ends all their sessions; the user gets an e-mail. An unknown id is `404`. Without MFA on, it changes nothing but still ends the sessions.',
        security,
        params: UserIdParamsSchema,
        response: { 204: MfaOffSchema, ...errorResponses(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await mfa.reset(request.params.id, requestContext(request))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/auth/mfa/verify',
    {
      config: { requestLimit: 'strict', outcome: 'login' },
      schema: {
        tags: ['auth'],
        summary: 'Log in, second step',
        operationId: 'verifyMfa',
        security: [],
        description: `After a login answered \`401 mfa_required\`: its \`mfa_token\` with a TOTP \`code\` or a \`recovery_code\` gives the token pair. The token is single use, lives 5 minutes and allows 5 wrong codes; then, and when unknown, it is \`401 invalid_token\`. A wrong code is \`400 invalid_code\` and counts as a failed login of the account. ${CODE_ONCE} A recovery code works once, and the user gets an e-mail when one is used.`,
        body: MfaVerifyBodySchema,
        response: { 200: TokenPairSchema, ...errorResponses(400, 401, 422, 429) },
      },
    },
    async (request) => {
      const { mfa_token, code, recovery_code } = request.body
      const factor = mfa.secondFactorOf({ code, recoveryCode: recovery_code })
      const pair = await mfa.verifyLogin(
        mfa_token,
        factor,
        loginThrottleFor(request),
        requestContext(request),
      )
      return tokenPair(pair)
    },
  )
}
