import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../core/clock.js'
import { normaliseEmail } from '../core/credentials.js'
import { AppError, invalidField, notFound, unauthorized } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { DerivedKeys } from '../core/keys.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import {
  generateRecoveryCodes,
  generateTotpSecret,
  hashRecoveryCode,
  looksLikeTotp,
  matchTotp,
  totpSecretText,
  totpUri,
} from '../core/mfa.js'
import { open, seal } from '../core/sealing.js'
import { hashToken } from '../core/security.js'
import type { NewUserRow, UserRow } from '../db/schema.js'
import { type Mailer, mfaNoticeEmail } from '../mailer.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'
import { checkCurrentPassword } from './current-password.js'
import {
  type AuthLogger,
  endSessions,
  type RequestContext,
  type SessionsService,
  securityEvent,
  type TokenPair,
} from './sessions.js'

interface MfaServiceDeps {
  repositories: Repositories
  clock: Clock
  mailer: Mailer
  sessions: SessionsService
  logger: AuthLogger
  /** The audit log's writer: events go in the transaction of their change. */
  recordEvent: RecordEvent
  /** Derived from SECRET_KEY once, at start (core/keys.ts). */
  keys: Pick<DerivedKeys, 'totpSecretSealing' | 'recoveryCodeHmac'>
}

/** How long an enrolment waits for its first code, and an `mfa_token` for its code. */
const ENROLMENT_TTL_MS = 10 * 60_000
const CHALLENGE_TTL_MS = 5 * 60_000
/** Wrong codes an `mfa_token` allows; the next try finds it spent. */
export const CHALLENGE_MAX_WRONG = 5

/** The second factor offered: a TOTP code, or a recovery code. */
type SecondFactor = { code: string } | { recoveryCode: string }

const invalidCode = () => new AppError(400, 'invalid_code', 'Invalid or expired code')
const invalidMfaToken = () => unauthorized('invalid_token', 'Invalid or expired MFA token')
const alreadyEnabled = () =>
  new AppError(409, 'mfa_already_enabled', 'Two-factor authentication is already on')

/** The sealed secret names its owner, so a ciphertext copied onto another user does not open. */
const secretLabel = (userId: string) => `totp:${userId}`

/** `mfa_token`: the challenge id, a dot, then 32 random bytes (base64url). */
const TOKEN_FORMAT = /^([0-9A-HJKMNP-TV-Z]{26})\.([A-Za-z0-9_-]{43})$/

export function createMfaService(deps: MfaServiceDeps) {
  const { repositories, clock, mailer, sessions, logger, keys, recordEvent } = deps

  const sealSecret = (userId: string, secret: Buffer) =>
    seal(keys.totpSecretSealing, secretLabel(userId), secret)
  const openSecret = (userId: string, sealed: string) =>
    open(keys.totpSecretSealing, secretLabel(userId), sealed)

  /**
   * Spends the second factor through `tx`: a TOTP code of a step later than the last one
   * accepted (so a code, or an older one, never works twice), or an unused recovery code.
   * The kind spent, or null when it was wrong. A recovery code spent is recorded with it.
   */
  async function spendFactor(
    tx: Repositories,
    user: UserRow,
    factor: SecondFactor,
    now: Date,
    context?: RequestContext,
  ) {
    if ('code' in factor && looksLikeTotp(factor.code)) {
      const row = await tx.mfa.findConfirmedFactor(user.id)
      if (!row) return null
      const step = matchTotp(openSecret(user.id, row.secret), factor.code, now)
      if (step === null || !(await tx.mfa.acceptStep(user.id, step))) return null
      return 'totp' as const
    }
    const recoveryCode = 'code' in factor ? factor.code : factor.recoveryCode
    const hash = hashRecoveryCode(keys.recoveryCodeHmac, recoveryCode)
    if (!(await tx.mfa.useRecoveryCode(user.id, hash, now))) return null
    // The code proved the user: the actor, also on the login route that has none yet.
    const event = { type: 'mfa.recovery_code_used', userId: user.id, actorId: user.id } as const
    await recordEvent(tx, event, context)
    return 'recovery' as const
  }

  /** After a recovery code was spent: the user is told, with how many are left. */
  async function noticeRecoveryCodeUsed(user: UserRow, context?: RequestContext) {
    const left = await repositories.mfa.countUnusedRecoveryCodes(user.id)
    securityEvent(
      logger,
      context,
      'mfa_recovery_code_used',
      { userId: user.id, left },
      'recovery code used',
    )
    mailer.dispatch(mfaNoticeEmail('recovery_code_used', user.email, left))
  }

  /**
   * Checks a code of a signed-in user with MFA on, counted by the login throttle like a
   * password, and spends it in `work`'s transaction, which runs only when it was right.
   */
  async function withSecondFactor<T>(
    user: UserRow,
    factor: SecondFactor,
    throttle: LoginThrottle,
    context: RequestContext | undefined,
    work: (tx: Repositories, now: Date) => Promise<T>,
  ): Promise<{ result: T; kind: 'totp' | 'recovery' }> {
    const attempt = await throttle.begin(user.email)
    const now = clock.now()
    const outcome = await repositories.transaction(async (tx) => {
      const kind = user.mfaEnabled ? await spendFactor(tx, user, factor, now, context) : null
      if (kind === null) return null
      return { result: await work(tx, now), kind }
    })
    if (outcome === null) throw invalidCode()
    await attempt.matched()
    return outcome
  }

  /** Turns MFA off through `tx`: factor, recovery codes and pending challenges go. */
  async function removeMfa(tx: Repositories, userId: string, changes: Partial<NewUserRow> = {}) {
    await tx.mfa.deleteAll(userId)
    return tx.users.update(userId, { ...changes, mfaEnabled: false })
  }

  async function issueRecoveryCodes(tx: Repositories, userId: string) {
    const codes = generateRecoveryCodes()
    const hashes = codes.map((code) => hashRecoveryCode(keys.recoveryCodeHmac, code))
    await tx.mfa.replaceRecoveryCodes(userId, hashes)
    return codes
  }

  /** An admin's (or the CLI's) reset: MFA off for that user, whose sessions end. */
  async function reset(userId: string, context?: RequestContext): Promise<UserRow> {
    const now = clock.now()
    const user = await repositories.transaction(async (tx) => {
      const row = await removeMfa(tx, userId, { tokensValidAfter: now })
      if (!row) return undefined
      // By an admin (the request's actor) or by the operator's CLI (no request).
      const by = context ? 'admin' : 'cli'
      await recordEvent(tx, { type: 'mfa.disabled', userId, details: { by } }, context)
      await endSessions(tx, { userId }, 'mfa_reset', now)
      return row
    })
    if (!user) throw notFound('User not found')
    securityEvent(logger, context, 'mfa_reset', { userId }, 'MFA reset')
    mailer.dispatch(mfaNoticeEmail('mfa_disabled', user.email))
    return user
  }

  return {
    /** Step one of enrolment: a new secret, pending until confirmed with a first code. */
    async startEnrolment(user: UserRow, currentPassword: string, throttle: LoginThrottle) {
      await checkCurrentPassword(user, currentPassword, throttle)
      if (user.mfaEnabled) throw alreadyEnabled()
      const secret = generateTotpSecret()
      const expiresAt = new Date(clock.now().getTime() + ENROLMENT_TTL_MS)
      const started = await repositories.mfa.insertPendingFactor(
        user.id,
        sealSecret(user.id, secret),
        expiresAt,
      )
      if (!started) throw alreadyEnabled()
      return { secret: totpSecretText(secret), otpauthUri: totpUri(secret, user.email) }
    },

    /** Step two: the first code turns MFA on; the recovery codes are returned once. */
    async confirmEnrolment(
      user: UserRow,
      code: string,
      throttle: LoginThrottle,
      context?: RequestContext,
    ) {
      const attempt = await throttle.begin(user.email)
      const now = clock.now()
      const pending = await repositories.mfa.findPendingFactor(user.id, now)
      const step = pending && matchTotp(openSecret(user.id, pending.secret), code, now)
      if (!pending || step === null || step === undefined) throw invalidCode()
      const codes = await repositories.transaction(async (tx) => {
        if (!(await tx.mfa.confirmFactor(user.id, step, now))) return null
        await tx.users.update(user.id, { mfaEnabled: true })
        await recordEvent(tx, { type: 'mfa.enabled', userId: user.id }, context)
        return issueRecoveryCodes(tx, user.id)
      })
      if (codes === null) throw invalidCode()
      await attempt.matched()
      return codes
    },

    /** MFA off, with the password and a code (TOTP or recovery); the user is told by e-mail. */
    async disable(
      user: UserRow,
      input: { currentPassword: string; code: string },
      throttle: LoginThrottle,
      context?: RequestContext,
    ): Promise<void> {
      await checkCurrentPassword(user, input.currentPassword, throttle)
      await withSecondFactor(user, { code: input.code }, throttle, context, async (tx) => {
        await removeMfa(tx, user.id)
        const event = { type: 'mfa.disabled', userId: user.id, details: { by: 'user' } } as const
        await recordEvent(tx, event, context)
      })
      securityEvent(logger, context, 'mfa_disabled', { userId: user.id }, 'MFA turned off')
      mailer.dispatch(mfaNoticeEmail('mfa_disabled', user.email))
    },

    /** New recovery codes, with the password and a code; the old ones stop working. */
    async regenerateRecoveryCodes(
      user: UserRow,
      input: { currentPassword: string; code: string },
      throttle: LoginThrottle,
      context?: RequestContext,
    ): Promise<string[]> {
      await checkCurrentPassword(user, input.currentPassword, throttle)
      const { result, kind } = await withSecondFactor(
        user,
        { code: input.code },
        throttle,
        context,
        (tx) => issueRecoveryCodes(tx, user.id),
      )
      if (kind === 'recovery') await noticeRecoveryCodeUsed(user, context)
      return result
    },

    /** After a right password of an account with MFA on: the `mfa_token` of the second step. */
    async challenge(user: UserRow): Promise<string> {
      const id = newId()
      const secret = randomBytes(32).toString('base64url')
      const now = clock.now()
      const expiresAt = new Date(now.getTime() + CHALLENGE_TTL_MS)
      await repositories.mfa.insertChallenge(
        { id, userId: user.id, tokenHash: hashToken(secret), expiresAt },
        now,
      )
      return `${id}.${secret}`
    },

    /**
     * The second step of a login: a right code for a live `mfa_token` starts the session.
     * Each try is counted on the token before the code is compared (so parallel guesses
     * cannot exceed the limit) and by the account's login throttle.
     */
    async verifyLogin(
      mfaToken: string,
      factor: SecondFactor,
      throttle: LoginThrottle,
      context?: RequestContext,
    ): Promise<TokenPair> {
      const [, id, secret] = TOKEN_FORMAT.exec(mfaToken) ?? []
      if (id === undefined || secret === undefined) throw invalidMfaToken()
      const found = await repositories.mfa.findChallenge(id)
      const expected = Buffer.from(found?.tokenHash ?? hashToken(''), 'hex')
      // Constant-time, so the time taken reveals nothing about a guessed token's hash.
      if (!found || !timingSafeEqual(expected, Buffer.from(hashToken(secret), 'hex'))) {
        throw invalidMfaToken()
      }
      const user = await repositories.users.findById(found.userId)
      if (!user?.isActive || !user.isVerified || !user.mfaEnabled) throw invalidMfaToken()
      const attempt = await throttle.begin(user.email)
      const now = clock.now()
      const claimed = await repositories.mfa.claimChallengeTry(id, CHALLENGE_MAX_WRONG, now)
      if (!claimed) throw invalidMfaToken()
      // The code, the token and the new session (with its login.succeeded) commit together.
      const done = await repositories.transaction(async (tx) => {
        const spent = await spendFactor(tx, user, factor, now, context)
        if (spent === null || !(await tx.mfa.useChallenge(id, now))) return null
        return { kind: spent, pair: await sessions.start(user, context, tx) }
      })
      if (done === null) {
        securityEvent(logger, context, 'mfa_failed', { userId: user.id }, 'wrong MFA code')
        const event = { userId: user.id, actorId: null, details: { reason: 'wrong_mfa_code' } }
        await recordEvent(repositories, { type: 'login.failed', ...event }, context)
        throw invalidCode()
      }
      await attempt.matched()
      if (done.kind === 'recovery') await noticeRecoveryCodeUsed(user, context)
      return done.pair
    },

    /** `cli mfa-reset --email E`. */
    reset,

    async resetByEmail(email: string): Promise<UserRow> {
      const user = await repositories.users.findByEmail(normaliseEmail(email))
      if (!user) throw notFound('User not found')
      return reset(user.id)
    },

    /** Exactly one of `code` and `recoveryCode`, as the verify route's body offers them. */
    secondFactorOf(input: { code?: string; recoveryCode?: string }): SecondFactor {
      if (input.code !== undefined && input.recoveryCode === undefined) return { code: input.code }
      if (input.recoveryCode !== undefined && input.code === undefined) {
        return { recoveryCode: input.recoveryCode }
      }
      throw invalidField('code', 'Send either code or recovery_code', 'value_error')
    },
  }
}

export type MfaService = ReturnType<typeof createMfaService>
