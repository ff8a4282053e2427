import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { assertValidEmail, normaliseEmail } from '../core/credentials.js'
import { AppError, invalidField } from '../core/errors.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import type { RequestContext } from '../core/request-context.js'
import { isUniqueViolation } from '../db/errors.js'
import type { UserRow } from '../db/schema.js'
import { codeEmail, emailChangedNotice, type Mailer, maskEmail } from '../mailer.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'
import type { CodesService } from './codes.js'
import { checkCurrentPassword } from './current-password.js'

export interface EmailChangeRequest {
  newEmail: string
  currentPassword: string
}

export interface EmailChangeServiceDeps {
  config: Pick<Config, 'codeTtlMs'>
  repositories: Repositories
  mailer: Mailer
  clock: Clock
  codes: CodesService
  /** The audit log's writer: events go in the transaction of their change. */
  recordEvent: RecordEvent
}

const emailTaken = () => new AppError(409, 'email_taken', 'Email already registered')

/**
 * A user changing their own address: the password first, then a code sent to the new
 * address, which confirming applies. Until then nothing changes.
 */
export function createEmailChangeService(deps: EmailChangeServiceDeps) {
  const { config, repositories, mailer, clock, codes, recordEvent } = deps
  const ttlMinutes = Math.max(1, Math.round(config.codeTtlMs / 60_000))

  return {
    /**
     * Checks the password (a wrong one is a failed login of the account) before anything
     * else, so that whether an address is taken cannot be probed without it; then e-mails a
     * code to the new address, replacing any pending change. Within the address's send
     * quota: beyond it nothing is sent, the last code stays valid, and the answer is the same.
     */
    async request(
      user: UserRow,
      input: EmailChangeRequest,
      throttle: LoginThrottle,
      context?: RequestContext,
    ) {
      assertValidEmail('newEmail', input.newEmail)
      await checkCurrentPassword(user, input.currentPassword, throttle)
      const newEmail = normaliseEmail(input.newEmail)
      if (newEmail === user.email) {
        throw invalidField('newEmail', 'This is already your e-mail address', 'value_error')
      }
      if (await repositories.users.findByEmail(newEmail)) throw emailTaken()
      const code = await repositories.transaction(async (tx) => {
        const issued = await codes.issue(
          { purpose: 'change_email', userId: user.id, address: newEmail },
          tx,
        )
        // Addresses only masked: the log outlives the account, and is shown to its user.
        const details = { new_email: maskEmail(newEmail) }
        await recordEvent(tx, { type: 'email.change_requested', userId: user.id, details }, context)
        return issued
      })
      if (code !== null) mailer.dispatch(codeEmail('change_email', newEmail, code, ttlMinutes))
    },

    /**
     * Applies the pending change the code was issued for, in one transaction: the code is
     * used up, the address replaced and verified (the code proved it), and the codes sent
     * to the old address voided, with its `email.changed` event. The unique index decides a race for the address: the loser
     * gets `409 email_taken`, and its pending change ends (the code is used up all the same).
     * The old address is told, with the new one masked.
     */
    async confirm(user: UserRow, code: string, context?: RequestContext): Promise<UserRow> {
      const claim = await codes.check('change_email', user.id, code)
      const newEmail = claim.newEmail
      if (newEmail === null) throw new Error('an e-mail change code without its address')
      const outcome = await repositories.transaction(async (tx) => {
        const now = clock.now()
        if (!(await codes.markUsed(tx, 'change_email', user.id, claim))) return 'used' as const
        const before = await tx.users.findById(user.id)
        if (!before) return 'used' as const
        let changed: UserRow | undefined
        try {
          // A savepoint, so that losing the race still commits the code's use.
          changed = await tx.transaction((inner) =>
            inner.users.markVerified(user.id, now, { email: newEmail }),
          )
        } catch (error) {
          if (isUniqueViolation(error, 'users_email_key')) return 'taken' as const
          throw error
        }
        if (!changed) return 'used' as const
        await tx.oneTimeCodes.voidAll(user.id, now)
        const details = { old_email: maskEmail(before.email), new_email: maskEmail(newEmail) }
        await recordEvent(tx, { type: 'email.changed', userId: user.id, details }, context)
        return { user: changed, oldEmail: before.email }
      })
      if (outcome === 'used') throw codes.rejection('change_email')
      if (outcome === 'taken') throw emailTaken()
      mailer.dispatch(emailChangedNotice(outcome.oldEmail, newEmail))
      return outcome.user
    },
  }
}
