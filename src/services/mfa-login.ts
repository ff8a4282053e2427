import { randomBytes, timingSafeEqual } from 'node:crypto'
import { unauthorized } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { LoginThrottle } from '../core/login-throttle.js'
import { hashToken } from '../core/security.js'
import type { UserRow } from '../db/schema.js'
import { invalidCode, type MfaDeps, type SecondFactor, type SecondFactors } from './mfa-factor.js'
import {
  type RequestContext,
  type SessionsService,
  securityEvent,
  type TokenPair,
} from './sessions.js'

/** How long an `mfa_token` waits for its code. */
const CHALLENGE_TTL_MS = 5 * 60_000
/** Wrong codes an `mfa_token` allows; the next try finds it spent. */
export const CHALLENGE_MAX_WRONG = 5

const invalidMfaToken = () => unauthorized('invalid_token', 'Invalid or expired MFA token')

/** `mfa_token`: the challenge id, a dot, then 32 random bytes (base64url). */
const TOKEN_FORMAT = /^([0-9A-HJKMNP-TV-Z]{26})\.([A-Za-z0-9_-]{43})$/

/** The second step of a login with MFA on: the `mfa_token`, then the code that spends it. */
export function createMfaLogin(
  deps: MfaDeps & { sessions: SessionsService },
  factors: SecondFactors,
) {
  const { repositories, clock, sessions, logger, recordEvent } = deps
  const { spendFactor, noticeRecoveryCodeUsed } = factors

  return {
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
  }
}
