import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { AppError } from '../core/errors.js'
import type { DerivedKeys } from '../core/keys.js'
import { generateCode, hashCode, safeEqual } from '../core/security.js'
import type { CodePurpose } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { CodeClaim } from '../repositories/one-time-codes.js'

/** The contract's limits on e-mailed codes ("Codes, again"), the same for every purpose. */
export const CODE_LIMITS = {
  /** Wrong tries a code survives. */
  triesPerCode: 5,
  /** Wrong tries per account and purpose in any hour, across re-issued codes. */
  failuresPerWindow: 10,
  failureWindowMs: 60 * 60_000,
  /** Codes sent per address and purpose in any 15 minutes. */
  sendsPerWindow: 3,
  sendWindowMs: 15 * 60_000,
} as const

export interface CodeRequest {
  purpose: CodePurpose
  userId: string
  /**
   * Where the code goes; the send throttle counts per address. For `change_email`, the
   * new address, stored with the code.
   */
  address: string
}

export interface CodesServiceDeps {
  config: Pick<Config, 'codeTtlMs'>
  /** Derived from SECRET_KEY once, at start (core/keys.ts). */
  keys: Pick<DerivedKeys, 'codeHmac'>
  repositories: Pick<Repositories, 'oneTimeCodes'>
  clock: Clock
  /** Called for each code refused (the /metrics counter of failed attempts). */
  onRejected?: (purpose: CodePurpose) => void
}

export type { CodeClaim }

type CodeRepositories = Pick<Repositories, 'oneTimeCodes'>

/**
 * Six-digit codes for any purpose: issuing under the send throttle, checking under the
 * per-code and per-account try limits, and using up. The caller sends the e-mail.
 */
export function createCodesService(deps: CodesServiceDeps) {
  const { config, repositories, clock, keys } = deps

  const codeHashFor = (purpose: CodePurpose, userId: string, code: string) =>
    hashCode(keys.codeHmac, `${purpose}:${userId}`, code)
  // Keyed, so the table of sends holds no address that could be read back.
  const addressHashFor = (purpose: CodePurpose, address: string) =>
    hashCode(keys.codeHmac, `send:${purpose}`, address)

  async function issue(repos: CodeRepositories, request: CodeRequest, always: boolean) {
    const { purpose, userId, address } = request
    const now = clock.now()
    const code = generateCode()
    const issued = await repos.oneTimeCodes.issueWithinQuota(
      {
        userId,
        purpose,
        codeHash: codeHashFor(purpose, userId, code),
        expiresAt: new Date(now.getTime() + config.codeTtlMs),
        // An e-mail change's code proves the address it is sent to: confirming applies it.
        newEmail: purpose === 'change_email' ? address : null,
      },
      {
        addressHash: addressHashFor(purpose, address),
        max: CODE_LIMITS.sendsPerWindow,
        windowMs: CODE_LIMITS.sendWindowMs,
        always,
      },
      now,
    )
    return issued ? code : null
  }

  /** The `invalid_code` answer, counted. */
  function rejection(purpose: CodePurpose): AppError {
    deps.onRejected?.(purpose)
    return new AppError(400, 'invalid_code', 'Invalid or expired code')
  }

  return {
    /**
     * A new code replacing the previous one, or null when the address has been sent its
     * quota: then nothing is sent and the last code stays valid. The caller answers as if
     * it had been sent, so the throttle shows nowhere. `repos` is the caller's transaction,
     * if any.
     */
    issue: (request: CodeRequest, repos: CodeRepositories = repositories) =>
      issue(repos, request, false),

    /** The sign-up code: always sent, and counted against the address's quota. */
    async issueFirst(
      request: CodeRequest,
      repos: CodeRepositories = repositories,
    ): Promise<string> {
      const code = await issue(repos, request, true)
      if (code === null) throw new Error('an unthrottled code was not issued')
      return code
    },

    rejection,

    /**
     * Counts the try (before the comparison, so that parallel guesses cannot exceed the
     * limits) and compares in constant time. Returns the claim to pass to `markUsed`.
     */
    async check(purpose: CodePurpose, userId: string, code: string): Promise<CodeClaim> {
      const claim = await repositories.oneTimeCodes.claimAttempt(
        userId,
        purpose,
        {
          perCode: CODE_LIMITS.triesPerCode,
          perWindow: CODE_LIMITS.failuresPerWindow,
          windowMs: CODE_LIMITS.failureWindowMs,
        },
        clock.now(),
      )
      if (!claim || !safeEqual(codeHashFor(purpose, userId, code), claim.codeHash)) {
        throw rejection(purpose)
      }
      return claim
    },

    /** Uses the checked code up (in the caller's transaction); false if it was used meanwhile. */
    markUsed: (tx: CodeRepositories, purpose: CodePurpose, userId: string, claim: CodeClaim) =>
      tx.oneTimeCodes.markUsed(userId, purpose, claim, clock.now()),
  }
}

export type CodesService = ReturnType<typeof createCodesService>
