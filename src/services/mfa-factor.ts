import type { Clock } from '../core/clock.js'
import { AppError, invalidField } from '../core/errors.js'
import type { DerivedKeys } from '../core/keys.js'
import { hashRecoveryCode, looksLikeTotp, matchTotp } from '../core/mfa.js'
import { open, seal } from '../core/sealing.js'
import type { UserRow } from '../db/schema.js'
import { type Mailer, mfaNoticeEmail } from '../mailer.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'
import { type AuthLogger, type RequestContext, securityEvent } from './sessions.js'

/**
 * The second factor, as both MFA services use it: the sealed TOTP secret, and spending a
 * TOTP or recovery code, for a login's second step (mfa-login.ts) or to change MFA itself
 * (mfa.ts).
 */
export interface MfaDeps {
  repositories: Repositories
  clock: Clock
  mailer: Mailer
  logger: AuthLogger
  /** The audit log's writer: events go in the transaction of their change. */
  recordEvent: RecordEvent
  /** Derived from SECRET_KEY once, at start (core/keys.ts). */
  keys: Pick<DerivedKeys, 'totpSecretSealing' | 'recoveryCodeHmac'>
}

/** The second factor offered: a TOTP code, or a recovery code. */
export type SecondFactor = { code: string } | { recoveryCode: string }

export const invalidCode = () => new AppError(400, 'invalid_code', 'Invalid or expired code')

/** The sealed secret names its owner, so a ciphertext copied onto another user does not open. */
const secretLabel = (userId: string) => `totp:${userId}`

/** Exactly one of `code` and `recoveryCode`, as the verify route's body offers them. */
export function secondFactorOf(input: { code?: string; recoveryCode?: string }): SecondFactor {
  if (input.code !== undefined && input.recoveryCode === undefined) return { code: input.code }
  if (input.recoveryCode !== undefined && input.code === undefined) {
    return { recoveryCode: input.recoveryCode }
  }
  throw invalidField('code', 'Send either code or recovery_code', 'value_error')
}

export function createSecondFactors(deps: MfaDeps) {
  const { repositories, mailer, logger, keys, recordEvent } = deps

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

  return { sealSecret, openSecret, spendFactor, noticeRecoveryCodeUsed }
}

export type SecondFactors = ReturnType<typeof createSecondFactors>
