import type { AuditDetails } from '../core/audit-events.js'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { assertValidEmail, assertValidPassword, normaliseEmail } from '../core/credentials.js'
import { AppError, unauthorized } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { type DerivedKeys, emailPseudonym } from '../core/keys.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import { hashNeedsUpgrade, hashPassword, verifyPassword } from '../core/security.js'
import { isUniqueViolation } from '../db/errors.js'
import type { UserRow } from '../db/schema.js'
import { codeEmail, type Mailer } from '../mailer.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'
import type { CodesService } from './codes.js'
import type { MfaService } from './mfa.js'
import {
  type AuthLogger,
  endSessions,
  type RequestContext,
  type SessionsService,
  securityEvent,
  type TokenPair,
} from './sessions.js'

export type { AuthLogger, RequestContext, TokenPair }

export interface AuthServiceDeps {
  config: Readonly<Config>
  repositories: Repositories
  mailer: Mailer
  clock: Clock
  /** Logins as refresh-token families: login issues one, refresh and logout are theirs. */
  sessions: SessionsService
  /** E-mailed codes and their limits (shared with any other flow that sends codes). */
  codes: CodesService
  logger: AuthLogger
  /** The audit log's writer: events go in the transaction of their change. */
  recordEvent: RecordEvent
  /** The second step of a login when the account has MFA on. */
  mfa: Pick<MfaService, 'challenge'>
  /** Derived from SECRET_KEY once, at start (core/keys.ts). */
  keys: Pick<DerivedKeys, 'logPseudonym'>
}

export interface SignupInput {
  email: string
  password: string
  fullName?: string | null
}

export interface ResetPasswordInput {
  email: string
  code: string
  newPassword: string
}

const MFA_REQUIRED =
  'Two-factor authentication required: send a code with this mfa_token to POST /auth/mfa/verify'

/**
 * A right password of an account with MFA on: the code goes to POST /auth/mfa/verify.
 * `error` and `error_description` (RFC 6749 §5.2) are what OAuth2 clients such as Swagger
 * UI's Authorize dialog show of a failed token request.
 */
const mfaRequired = (mfaToken: string) =>
  new AppError(401, 'mfa_required', MFA_REQUIRED, { 'www-authenticate': 'Bearer' }, undefined, {
    mfa_token: mfaToken,
    error: 'mfa_required',
    error_description: MFA_REQUIRED,
  })

const invalidCredentials = () => unauthorized('invalid_credentials', 'Incorrect email or password')

export function createAuthService(deps: AuthServiceDeps) {
  const { config, repositories, mailer, clock, sessions, logger, codes, keys, recordEvent, mfa } =
    deps
  const { users } = repositories
  const ttlMinutes = Math.max(1, Math.round(config.codeTtlMs / 60_000))

  // Computed once, on the first unknown-email login, at the configured cost.
  let dummyHash: Promise<string> | undefined
  const dummyPasswordHash = () => {
    dummyHash ??= hashPassword('not-a-real-password', config.bcryptRounds)
    return dummyHash
  }

  /**
   * A hash made at a lower cost than BCRYPT_ROUNDS is replaced while the password is at
   * hand. Only if it is still the stored one: a password changed meanwhile wins. A failure
   * keeps the old hash and the login goes on.
   */
  async function upgradePasswordHash(user: UserRow, password: string, context?: RequestContext) {
    if (!hashNeedsUpgrade(user.passwordHash, config.bcryptRounds)) return
    try {
      const upgraded = await hashPassword(password, config.bcryptRounds)
      await users.replacePasswordHash(user.id, user.passwordHash, upgraded)
    } catch (error) {
      ;(context?.log ?? logger).warn(
        { err: error, userId: user.id },
        'password hash upgrade failed',
      )
    }
  }

  /** A refused login: a caller who proved nothing, so no actor. */
  const loginFailed = (userId: string | null, details: AuditDetails, context?: RequestContext) =>
    recordEvent(repositories, { type: 'login.failed', userId, actorId: null, details }, context)

  return {
    /** Creates an unverified account and e-mails its verification code. */
    async signup(input: SignupInput, context?: RequestContext): Promise<UserRow> {
      assertValidEmail('email', input.email)
      assertValidPassword('password', input.password)
      const passwordHash = await hashPassword(input.password, config.bcryptRounds)
      const email = normaliseEmail(input.email)
      let created: { user: UserRow; code: string }
      try {
        created = await repositories.transaction(async (tx) => {
          const user = await tx.users.insert({
            id: newId(),
            email,
            passwordHash,
            fullName: input.fullName ?? null,
          })
          const code = await codes.issueFirst(
            { purpose: 'verify_email', userId: user.id, address: email },
            tx,
          )
          const event = { type: 'user.signed_up', userId: user.id, actorId: user.id } as const
          await recordEvent(tx, event, context)
          return { user, code }
        })
      } catch (error) {
        // The unique index decides races: a pre-check alone would let two inserts through.
        if (isUniqueViolation(error, 'users_email_key')) {
          throw new AppError(409, 'email_taken', 'Email already registered')
        }
        throw error
      }
      mailer.dispatch(codeEmail('verify_email', email, created.code, ttlMinutes))
      return created.user
    },

    async verifyEmail(
      emailInput: string,
      code: string,
      context?: RequestContext,
    ): Promise<UserRow> {
      const user = await users.findByEmail(normaliseEmail(emailInput))
      if (!user) throw codes.rejection('verify_email')
      if (user.isVerified) throw new AppError(409, 'already_verified', 'Email already verified')
      const claim = await codes.check('verify_email', user.id, code)
      const verified = await repositories.transaction(async (tx) => {
        if (!(await codes.markUsed(tx, 'verify_email', user.id, claim))) return undefined
        const row = await tx.users.markVerified(user.id, clock.now())
        // The code proved the address: its owner is the actor.
        await recordEvent(tx, { type: 'user.verified', userId: user.id, actorId: user.id }, context)
        return row
      })
      if (!verified) throw codes.rejection('verify_email')
      return verified
    },

    /**
     * Always succeeds (no enumeration); only an unverified account gets a new code, and
     * only within the address's send quota.
     */
    async resendCode(emailInput: string): Promise<void> {
      const email = normaliseEmail(emailInput)
      const user = await users.findByEmail(email)
      if (!user || user.isVerified) return
      const code = await codes.issue({ purpose: 'verify_email', userId: user.id, address: email })
      if (code !== null) mailer.dispatch(codeEmail('verify_email', email, code, ttlMinutes))
    },

    /**
     * The password is checked first, and against a dummy hash for an unknown address, so
     * that neither timing nor the 403s below tell a caller without it whether it exists.
     * The throttle counts the attempt whether or not the account exists, for the same reason.
     * Only a right password learns that the account has MFA on (`401 mfa_required`).
     */
    async login(
      emailInput: string,
      password: string,
      throttle: LoginThrottle,
      context?: RequestContext,
    ): Promise<TokenPair> {
      const email = normaliseEmail(emailInput)
      const attempt = await throttle.begin(email)
      const user = await users.findByEmail(email)
      const matches = await verifyPassword(
        password,
        user?.passwordHash ?? (await dummyPasswordHash()),
      )
      if (!user || !matches) {
        // The pseudonym joins these with the login throttle's lock-outs, which know no user.
        const emailHash = emailPseudonym(keys, email)
        securityEvent(
          logger,
          context,
          'login_failed',
          { userId: user?.id, emailHash },
          'login failed',
        )
        // Nothing changes, so nothing to roll back with: the event stands alone. An unknown
        // address is named by its keyed hash only, as in the log.
        const details: AuditDetails = user
          ? { reason: 'wrong_password' }
          : { reason: 'unknown_email', email_hash: emailHash }
        await loginFailed(user?.id ?? null, details, context)
        throw invalidCredentials()
      }
      await attempt.matched()
      await upgradePasswordHash(user, password, context)
      if (!user.isActive) {
        await loginFailed(user.id, { reason: 'inactive_user' }, context)
        throw new AppError(403, 'inactive_user', 'Inactive user')
      }
      if (!user.isVerified) {
        await loginFailed(user.id, { reason: 'email_not_verified' }, context)
        throw new AppError(403, 'email_not_verified', 'Email not verified')
      }
      if (user.mfaEnabled) throw mfaRequired(await mfa.challenge(user))
      // Records login.succeeded in the transaction that starts the session.
      return sessions.start(user, context)
    },

    refresh: sessions.refresh,
    logout: sessions.logout,

    /**
     * Always succeeds (no enumeration); an existing account gets a reset code, within the
     * address's send quota.
     */
    async forgotPassword(emailInput: string): Promise<void> {
      const email = normaliseEmail(emailInput)
      const user = await users.findByEmail(email)
      if (!user) return
      const code = await codes.issue({ purpose: 'reset_password', userId: user.id, address: email })
      if (code !== null) mailer.dispatch(codeEmail('reset_password', email, code, ttlMinutes))
    },

    /**
     * Sets a new password, logs every device out (every session ended, older access tokens
     * rejected) and verifies the address, which the code has just proved.
     */
    async resetPassword(input: ResetPasswordInput, context?: RequestContext): Promise<void> {
      // Before the code is tried, so a refused password does not cost the user a try.
      assertValidPassword('newPassword', input.newPassword)
      const user = await users.findByEmail(normaliseEmail(input.email))
      if (!user) throw codes.rejection('reset_password')
      const claim = await codes.check('reset_password', user.id, input.code)
      const passwordHash = await hashPassword(input.newPassword, config.bcryptRounds)
      const done = await repositories.transaction(async (tx) => {
        const now = clock.now()
        if (!(await codes.markUsed(tx, 'reset_password', user.id, claim))) return false
        await tx.users.markVerified(user.id, now, { passwordHash, tokensValidAfter: now })
        await endSessions(tx, { userId: user.id }, 'password_reset', now)
        // The code proved the address: its owner is the actor.
        const event = { type: 'password.reset', userId: user.id, actorId: user.id } as const
        await recordEvent(tx, event, context)
        return true
      })
      if (!done) throw codes.rejection('reset_password')
    },
  }
}
