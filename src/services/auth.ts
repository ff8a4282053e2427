import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { assertValidEmail, assertValidPassword, normaliseEmail } from '../core/credentials.js'
import { AppError, unauthorized } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { type DerivedKeys, emailPseudonym } from '../core/keys.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import {
  generateRefreshToken,
  hashNeedsUpgrade,
  hashPassword,
  hashToken,
  verifyPassword,
} from '../core/security.js'
import type { Db } from '../db/client.js'
import { isUniqueViolation } from '../db/errors.js'
import type { RefreshTokenRow, UserRow } from '../db/schema.js'
import { codeEmail, type Mailer } from '../mailer.js'
import { createRefreshTokensRepository } from '../repositories/refresh-tokens.js'
import { createUsersRepository, type UsersRepository } from '../repositories/users.js'
import type { CodesService } from './codes.js'
import type { TokensService } from './tokens.js'

export interface AuthLogger {
  warn(details: Record<string, unknown>, message: string): void
}

/**
 * Who is asking, for security events: the request's logger (it carries the request id)
 * and the client address. Without it (CLI, tests) events go to the service's logger.
 */
export interface RequestContext {
  log: AuthLogger
  clientAddress: string
}

export interface AuthServiceDeps {
  config: Readonly<Config>
  db: Db
  mailer: Mailer
  clock: Clock
  tokens: TokensService
  /** E-mailed codes and their limits (shared with any other flow that sends codes). */
  codes: CodesService
  /** The shared users repository (its prepared statements are made once). */
  users: UsersRepository
  logger: AuthLogger
  /** Derived from SECRET_KEY once, at start (core/keys.ts). */
  keys: Pick<DerivedKeys, 'logPseudonym'>
  /** Called on each refresh-token reuse detection (the /metrics counter). */
  onReuseDetected?: () => void
}

export interface TokenPair {
  accessToken: string
  refreshToken: string
  expiresInSeconds: number
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

const invalidToken = () => unauthorized('invalid_token', 'Invalid or expired refresh token')
const invalidCredentials = () => unauthorized('invalid_credentials', 'Incorrect email or password')

export function createAuthService(deps: AuthServiceDeps) {
  const { config, db, mailer, clock, tokens, users, logger, codes, keys } = deps
  const refreshTokens = createRefreshTokensRepository(db)
  const ttlMinutes = Math.max(1, Math.round(config.codeTtlMs / 60_000))

  // Computed once, on the first unknown-email login, at the configured cost.
  let dummyHash: Promise<string> | undefined
  const dummyPasswordHash = () => {
    dummyHash ??= hashPassword('not-a-real-password', config.bcryptRounds)
    return dummyHash
  }

  /** A security event, at `warn`: never an e-mail address, token or password. */
  function securityEvent(
    context: RequestContext | undefined,
    event: string,
    details: Record<string, unknown>,
    message: string,
  ) {
    const log = context?.log ?? logger
    log.warn({ event, ...details, clientAddress: context?.clientAddress }, message)
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

  /** A new refresh token in `familyId` (a new login when omitted) and an access token. */
  async function issuePair(database: Db, user: UserRow, familyId = newId()): Promise<TokenPair> {
    // Signed first: when no key can sign (a 503), no refresh token is stored for nothing.
    // `sid` is the login, so a refreshed token keeps the one of the login it continues.
    const access = tokens.issueAccessToken(user, familyId)
    const refreshToken = generateRefreshToken()
    await createRefreshTokensRepository(database).insert({
      id: newId(),
      userId: user.id,
      familyId,
      tokenHash: hashToken(refreshToken),
      expiresAt: new Date(clock.now().getTime() + config.refreshTokenTtlMs),
    })
    return { accessToken: access.token, refreshToken, expiresInSeconds: access.expiresInSeconds }
  }

  /**
   * A refresh token that could not be spent. Within the grace a spent token is a retry or a
   * racing tab: refused, nothing revoked. After it, someone replays a stolen token: the whole
   * login is revoked.
   */
  async function rejectUnspendable(
    row: RefreshTokenRow | undefined,
    context?: RequestContext,
  ): Promise<never> {
    const now = clock.now()
    if (row?.spentAt && row.revokedAt === null && row.expiresAt > now) {
      if (now.getTime() - row.spentAt.getTime() > config.refreshReuseGraceMs) {
        await refreshTokens.revokeFamily(row.familyId, now)
        securityEvent(
          context,
          'refresh_token_reuse',
          { userId: row.userId, familyId: row.familyId },
          'refresh token reuse detected',
        )
        deps.onReuseDetected?.()
      }
    }
    throw invalidToken()
  }

  return {
    /** Creates an unverified account and e-mails its verification code. */
    async signup(input: SignupInput): Promise<UserRow> {
      assertValidEmail('email', input.email)
      assertValidPassword('password', input.password)
      const passwordHash = await hashPassword(input.password, config.bcryptRounds)
      const email = normaliseEmail(input.email)
      let created: { user: UserRow; code: string }
      try {
        created = await db.transaction(async (tx) => {
          const user = await createUsersRepository(tx).insert({
            id: newId(),
            email,
            passwordHash,
            fullName: input.fullName ?? null,
          })
          const code = await codes.issueFirst(tx, {
            purpose: 'verify_email',
            userId: user.id,
            address: email,
          })
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

    async verifyEmail(emailInput: string, code: string): Promise<UserRow> {
      const user = await users.findByEmail(normaliseEmail(emailInput))
      if (!user) throw codes.rejection('verify_email')
      if (user.isVerified) throw new AppError(409, 'already_verified', 'Email already verified')
      const claim = await codes.check('verify_email', user.id, code)
      const verified = await db.transaction(async (tx) => {
        if (!(await codes.markUsed(tx, 'verify_email', user.id, claim))) return undefined
        return createUsersRepository(tx).markVerified(user.id, clock.now())
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
      const code = await codes.issue(db, {
        purpose: 'verify_email',
        userId: user.id,
        address: email,
      })
      if (code !== null) mailer.dispatch(codeEmail('verify_email', email, code, ttlMinutes))
    },

    /**
     * The password is checked first, and against a dummy hash for an unknown address, so
     * that neither timing nor the 403s below tell a caller without it whether it exists.
     * The throttle counts the attempt whether or not the account exists, for the same reason.
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
        const subject = { userId: user?.id, emailHash: emailPseudonym(keys, email) }
        securityEvent(context, 'login_failed', subject, 'login failed')
        throw invalidCredentials()
      }
      await attempt.matched()
      await upgradePasswordHash(user, password, context)
      if (!user.isActive) throw new AppError(403, 'inactive_user', 'Inactive user')
      if (!user.isVerified) throw new AppError(403, 'email_not_verified', 'Email not verified')
      return issuePair(db, user)
    },

    /** Spends the token and returns a new pair in the same login family. */
    async refresh(refreshToken: string, context?: RequestContext): Promise<TokenPair> {
      const tokenHash = hashToken(refreshToken)
      const pair = await db.transaction(async (tx) => {
        // The owner's row is locked before the token is spent: a password change, reset or
        // deactivation committing meanwhile is either waited for (its revocation then refuses
        // the spend) or waits for this commit (and then sees the new token it must revoke).
        const user = await createUsersRepository(tx).lockOwnerOfRefreshToken(tokenHash)
        const spent = await createRefreshTokensRepository(tx).spend(tokenHash, clock.now())
        if (!spent) return null
        if (!user?.isActive || !user.isVerified) return undefined
        return issuePair(tx, user, spent.familyId)
      })
      if (pair === undefined) throw invalidToken()
      if (pair === null) {
        return rejectUnspendable(await refreshTokens.findByHash(tokenHash), context)
      }
      return pair
    },

    /** Ends the login the token belongs to: every token of its family is revoked. */
    async logout(refreshToken: string, context?: RequestContext): Promise<void> {
      const row = await refreshTokens.findByHash(hashToken(refreshToken))
      const now = clock.now()
      if (!row || row.spentAt || row.revokedAt || row.expiresAt <= now) {
        return rejectUnspendable(row, context)
      }
      await refreshTokens.revokeFamily(row.familyId, now)
    },

    /**
     * Always succeeds (no enumeration); an existing account gets a reset code, within the
     * address's send quota.
     */
    async forgotPassword(emailInput: string): Promise<void> {
      const email = normaliseEmail(emailInput)
      const user = await users.findByEmail(email)
      if (!user) return
      const code = await codes.issue(db, {
        purpose: 'reset_password',
        userId: user.id,
        address: email,
      })
      if (code !== null) mailer.dispatch(codeEmail('reset_password', email, code, ttlMinutes))
    },

    /**
     * Sets a new password, logs every device out (refresh tokens revoked, older access
     * tokens rejected) and verifies the address, which the code has just proved.
     */
    async resetPassword(input: ResetPasswordInput): Promise<void> {
      // Before the code is tried, so a refused password does not cost the user a try.
      assertValidPassword('newPassword', input.newPassword)
      const user = await users.findByEmail(normaliseEmail(input.email))
      if (!user) throw codes.rejection('reset_password')
      const claim = await codes.check('reset_password', user.id, input.code)
      const passwordHash = await hashPassword(input.newPassword, config.bcryptRounds)
      const done = await db.transaction(async (tx) => {
        const now = clock.now()
        if (!(await codes.markUsed(tx, 'reset_password', user.id, claim))) return false
        await createUsersRepository(tx).markVerified(user.id, now, {
          passwordHash,
          tokensValidAfter: now,
        })
        await createRefreshTokensRepository(tx).revokeAllForUser(user.id, now)
        return true
      })
      if (!done) throw codes.rejection('reset_password')
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
