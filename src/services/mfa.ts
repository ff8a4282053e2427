import { normaliseEmail } from '../core/credentials.js'
import { AppError, notFound } from '../core/errors.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import {
  generateRecoveryCodes,
  generateTotpSecret,
  hashRecoveryCode,
  matchTotp,
  totpSecretText,
  totpUri,
} from '../core/mfa.js'
import type { NewUserRow, UserRow } from '../db/schema.js'
import { mfaNoticeEmail } from '../mailer.js'
import type { Repositories } from '../repositories/index.js'
import { checkCurrentPassword } from './current-password.js'
import {
  createSecondFactors,
  invalidCode,
  type MfaDeps,
  type SecondFactor,
  secondFactorOf,
} from './mfa-factor.js'
import { createMfaLogin } from './mfa-login.js'
import {
  endSessions,
  type RequestContext,
  type SessionsService,
  securityEvent,
} from './sessions.js'

/** How long an enrolment waits for its first code. */
const ENROLMENT_TTL_MS = 10 * 60_000

const alreadyEnabled = () =>
  new AppError(409, 'mfa_already_enabled', 'Two-factor authentication is already on')

/**
 * Two-factor authentication: enrolment, turning it off, recovery codes and the admin's
 * reset here; the login's second step in mfa-login.ts.
 */
export function createMfaService(deps: MfaDeps & { sessions: SessionsService }) {
  const { repositories, clock, mailer, logger, recordEvent, keys } = deps
  const factors = createSecondFactors(deps)
  const { sealSecret, openSecret, spendFactor, noticeRecoveryCodeUsed } = factors

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
    ...createMfaLogin(deps, factors),
    secondFactorOf,

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

    /** `cli mfa-reset --email E`. */
    reset,

    async resetByEmail(email: string): Promise<UserRow> {
      const user = await repositories.users.findByEmail(normaliseEmail(email))
      if (!user) throw notFound('User not found')
      return reset(user.id)
    },
  }
}

export type MfaService = ReturnType<typeof createMfaService>
