import type { FastifyInstance, FastifyRequest, preValidationAsyncHookHandler } from 'fastify'
import { AppError } from '../core/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An admin without MFA may call it under REQUIRE_ADMIN_MFA: /users/me and enrolment. */
    mfaEnrolment?: boolean
  }
}

const enrolFirst = () =>
  new AppError(
    403,
    'mfa_enrolment_required',
    'Admins must turn on two-factor authentication first: POST /users/me/mfa/totp',
  )

/** After the route's own guards: `request.user` is set only where `authenticate` ran. */
const requireAdminMfa: preValidationAsyncHookHandler = async function requireAdminMfa(
  request: FastifyRequest,
) {
  // Decorated as null (app.ts) and set only by the guard.
  const user = request.user as FastifyRequest['user'] | null
  if (user === null || user.role !== 'admin' || user.mfaEnabled) return
  if (request.routeOptions.config.mfaEnrolment) return
  throw enrolFirst()
}

/**
 * REQUIRE_ADMIN_MFA: an admin without MFA reaches only the routes declaring `mfaEnrolment`
 * until enrolled. Appended to every route's guards as it is added (before the routes), so
 * a new authenticated route is covered without naming it.
 */
export function registerAdminMfaRule(app: FastifyInstance, config: { requireAdminMfa: boolean }) {
  if (!config.requireAdminMfa) return
  app.addHook('onRoute', (route) => {
    // After `authenticate` (also preValidation): refused before the body is validated.
    const own = route.preValidation === undefined ? [] : [route.preValidation].flat()
    route.preValidation = [...own, requireAdminMfa]
  })
}
