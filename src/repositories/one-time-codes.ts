import { and, eq, isNull, lt, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import { type CodePurpose, oneTimeCodes } from '../db/schema.js'

export interface NewCode {
  userId: string
  purpose: CodePurpose
  codeHash: string
  expiresAt: Date
  /** The new address of an e-mail change (the one the code is sent to); null otherwise. */
  newEmail: string | null
}

/** The send throttle of one address and purpose. */
export interface SendQuota {
  addressHash: string
  /** Codes allowed per window; ignored when `always`. */
  max: number
  windowMs: number
  /** Send (and count) even past the quota: the sign-up code. */
  always: boolean
}

/** The per-code and per-account limits a try is claimed against. */
export interface TryLimits {
  perCode: number
  perWindow: number
  windowMs: number
}

/**
 * A counted try: `codeHash` to compare with, `claimedAt` to hand back if it was the right
 * one, and the new address the code was issued for (e-mail changes; null otherwise).
 */
export interface CodeClaim {
  codeHash: string
  claimedAt: Date
  newEmail: string | null
}

const ts = (date: Date) => sql`${date.toISOString()}::timestamptz`
const interval = (ms: number) => sql`(${ms}::double precision * interval '1 millisecond')`
const last = (times: SQL) => sql`${times}[cardinality(${times})]`

/**
 * `times` with `at` appended, keeping the newest `keep`. Never earlier than the last entry,
 * so the array stays sorted (first = oldest) even when two instances' clocks differ a little.
 */
const appendTime = (times: SQL, at: Date, keep: number) => {
  const appended = sql`(${times} || greatest(${ts(at)}, ${last(times)}))`
  return sql`${appended}[greatest(1, cardinality(${appended}) - ${keep}::int + 1):]`
}

/** `times` without one occurrence of `at`: a try handed back. */
const removeTime = (times: SQL, at: Date) => {
  const position = sql`array_position(${times}, ${ts(at)})`
  return sql`case when ${position} is null then ${times}
    else ${times}[:${position} - 1] || ${times}[${position} + 1:] end`
}

export function createOneTimeCodesRepository(db: Db) {
  const live = (userId: string, purpose: CodePurpose, now: Date) =>
    and(
      eq(oneTimeCodes.userId, userId),
      eq(oneTimeCodes.purpose, purpose),
      isNull(oneTimeCodes.usedAt),
      sql`${oneTimeCodes.expiresAt} > ${ts(now)}`,
    )

  /**
   * The account has had `perWindow` wrong tries within an hour (they span less than the
   * window) and the window since the last of them has not passed: every code is refused.
   */
  const lockedOut = (limits: TryLimits, now: Date) => {
    const failures = sql`${oneTimeCodes.recentFailures}`
    return sql`(cardinality(${failures}) >= ${limits.perWindow}::int
      and ${failures}[1] > ${last(failures)} - ${interval(limits.windowMs)}
      and ${last(failures)} > ${ts(now)} - ${interval(limits.windowMs)})`
  }

  return {
    /**
     * Issues a code if the address may be sent one, replacing the user's previous code for
     * this purpose (its tries reset to 0, the account's recent failures kept); returns false,
     * changing nothing, when the quota is used up. One statement either way, so that a
     * throttled request costs what a sent one does and cannot be told apart by its timing.
     */
    async issueWithinQuota(code: NewCode, quota: SendQuota, now: Date): Promise<boolean> {
      const sentAt = sql`code_sends.sent_at`
      const allowed = quota.always
        ? sql`true`
        : sql`(cardinality(${sentAt}) < ${quota.max}::int
            or ${sentAt}[1] <= ${ts(now)} - ${interval(quota.windowMs)})`
      const result = await db.execute(sql`
        with slot as (
          insert into code_sends (address_hash, purpose, sent_at)
          values (${quota.addressHash}, ${code.purpose}, array[${ts(now)}])
          on conflict (address_hash, purpose) do update
            set sent_at = ${appendTime(sentAt, now, Math.max(quota.max, 1))}
            where ${allowed}
          returning 1
        )
        insert into one_time_codes (user_id, purpose, code_hash, new_email, expires_at)
        select ${code.userId}, ${code.purpose}, ${code.codeHash}, ${code.newEmail},
          ${ts(code.expiresAt)} from slot
        on conflict (user_id, purpose) do update
          set code_hash = excluded.code_hash, new_email = excluded.new_email,
              expires_at = excluded.expires_at, failed_attempts = 0, used_at = null,
              created_at = now()
        returning 1`)
      return (result as unknown as { rows: unknown[] }).rows.length === 1
    },

    /**
     * Counts one try against a live code, and against the account's recent failures, before
     * the code is compared; undefined when there is no live code, its tries are used up or
     * the account is locked out (none of which counts). Counting up front in one statement
     * keeps parallel guesses within both limits: each waits for the row lock of the one
     * before it and sees its count.
     */
    async claimAttempt(
      userId: string,
      purpose: CodePurpose,
      limits: TryLimits,
      now: Date,
    ): Promise<CodeClaim | undefined> {
      const failures = sql`${oneTimeCodes.recentFailures}`
      const [row] = await db
        .update(oneTimeCodes)
        .set({
          failedAttempts: sql`${oneTimeCodes.failedAttempts} + 1`,
          recentFailures: appendTime(failures, now, limits.perWindow),
        })
        .where(
          and(
            live(userId, purpose, now),
            lt(oneTimeCodes.failedAttempts, limits.perCode),
            sql`not ${lockedOut(limits, now)}`,
          ),
        )
        .returning({
          codeHash: oneTimeCodes.codeHash,
          claimedAt: sql`${last(failures)}`.mapWith(oneTimeCodes.expiresAt),
          newEmail: oneTimeCodes.newEmail,
        })
      return row
    },

    /**
     * Marks the code used, only if it is still the same live code: of two concurrent uses,
     * exactly one gets true. The claim of the right try is handed back, as it was no wrong try.
     */
    async markUsed(
      userId: string,
      purpose: CodePurpose,
      claim: CodeClaim,
      now: Date,
    ): Promise<boolean> {
      const rows = await db
        .update(oneTimeCodes)
        .set({
          usedAt: now,
          recentFailures: removeTime(sql`${oneTimeCodes.recentFailures}`, claim.claimedAt),
        })
        .where(and(live(userId, purpose, now), eq(oneTimeCodes.codeHash, claim.codeHash)))
        .returning({ userId: oneTimeCodes.userId })
      return rows.length === 1
    },

    /**
     * Voids every live code of the user (marked used, so the per-account count of wrong
     * tries survives): after a change of address, codes sent to the old one prove nothing.
     */
    async voidAll(userId: string, now: Date): Promise<void> {
      await db
        .update(oneTimeCodes)
        .set({ usedAt: now })
        .where(and(eq(oneTimeCodes.userId, userId), isNull(oneTimeCodes.usedAt)))
    },
  }
}

export type OneTimeCodesRepository = ReturnType<typeof createOneTimeCodesRepository>
