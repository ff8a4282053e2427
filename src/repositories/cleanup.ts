import { and, gte, inArray, isNotNull, isNull, lt, lte, or, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import {
  auditEvents,
  codeSends,
  mfaChallenges,
  oneTimeCodes,
  refreshTokens,
  scheduledRuns,
  sessions,
  totpFactors,
  users,
} from '../db/schema.js'

/**
 * Bounded deletes for the cleanup job. Each call is one short statement that removes at
 * most `limit` rows and returns how many it removed.
 *
 * `for update skip locked` keeps a batch from waiting on rows an API request is changing
 * right now (a user verifying at the last second is skipped, and no longer matches on the
 * next run), and lets two cleaners that run at once take disjoint rows.
 */
export function createCleanupRepository(db: Db) {
  return {
    /**
     * Starts the scheduled round `name` unless one started less than `intervalMs` ago, by any
     * process: the database's clock decides, so hosts with drifting clocks agree. Returns
     * when this round started, or null when it is not due.
     */
    async claimScheduledRun(name: string, intervalMs: number): Promise<Date | null> {
      const rows = await db
        .insert(scheduledRuns)
        .values({ name, lastStartedAt: sql`now()` })
        .onConflictDoUpdate({
          target: scheduledRuns.name,
          set: { lastStartedAt: sql`excluded.last_started_at` },
          where: sql`${scheduledRuns.lastStartedAt} <= excluded.last_started_at - make_interval(secs => ${intervalMs / 1000})`,
        })
        .returning({ startedAt: scheduledRuns.lastStartedAt })
      return rows[0]?.startedAt ?? null
    },

    /** Never-verified accounts created before `createdBefore`; cascades remove their codes and tokens. */
    async deleteNeverVerifiedUsers(createdBefore: Date, limit: number): Promise<number> {
      // Served by the partial index users_never_verified_created_at_idx.
      const batch = db
        .select({ id: users.id })
        .from(users)
        .where(and(isNull(users.verifiedAt), lt(users.createdAt, createdBefore)))
        .orderBy(users.createdAt)
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(users)
        .where(inArray(users.id, batch))
        .returning({ id: users.id })
      return rows.length
    },

    /**
     * Codes that expired or were used (neither can ever be accepted again), unless the row
     * still holds a wrong try younger than `failuresBefore`: those count against the next
     * code of the account, and deleting them would lift a lock-out early.
     */
    async deleteStaleCodes(now: Date, failuresBefore: Date, limit: number): Promise<number> {
      const failures = oneTimeCodes.recentFailures
      const batch = db
        .select({ userId: oneTimeCodes.userId, purpose: oneTimeCodes.purpose })
        .from(oneTimeCodes)
        .where(
          and(
            or(lt(oneTimeCodes.expiresAt, now), isNotNull(oneTimeCodes.usedAt)),
            // Oldest first: the last entry is the newest wrong try.
            sql`coalesce(${failures}[cardinality(${failures})] <= ${failuresBefore.toISOString()}::timestamptz, true)`,
          ),
        )
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(oneTimeCodes)
        .where(sql`(${oneTimeCodes.userId}, ${oneTimeCodes.purpose}) in (${batch})`)
        .returning({ userId: oneTimeCodes.userId })
      return rows.length
    },

    /** Send records whose newest send is older than `sentBefore`: they no longer throttle. */
    async deleteStaleCodeSends(sentBefore: Date, limit: number): Promise<number> {
      const batch = db
        .select({ addressHash: codeSends.addressHash, purpose: codeSends.purpose })
        .from(codeSends)
        .where(
          sql`${codeSends.sentAt}[cardinality(${codeSends.sentAt})] <= ${sentBefore.toISOString()}::timestamptz`,
        )
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(codeSends)
        .where(sql`(${codeSends.addressHash}, ${codeSends.purpose}) in (${batch})`)
        .returning({ purpose: codeSends.purpose })
      return rows.length
    },

    /**
     * Expired sessions (idle past their refresh token, or past SESSION_MAX_AGE, which caps
     * `expires_at`), ended or not, with their refresh tokens (on delete cascade). An ended
     * session stays until then: its tokens are revoked (and purged below), and the
     * expiry alone is what the index serves.
     */
    async deleteStaleSessions(now: Date, limit: number): Promise<number> {
      const batch = db
        .select({ id: sessions.id })
        .from(sessions)
        .where(lt(sessions.expiresAt, now))
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(sessions)
        .where(inArray(sessions.id, batch))
        .returning({ id: sessions.id })
      return rows.length
    },

    /**
     * Expired or revoked refresh tokens. A spent token that is still within its lifetime
     * stays: presenting it again is how reuse is detected. A revoked one can go, since an
     * unknown token gets the same 401 as a revoked one.
     */
    async deleteStaleRefreshTokens(now: Date, limit: number): Promise<number> {
      const batch = db
        .select({ id: refreshTokens.id })
        .from(refreshTokens)
        .where(or(lt(refreshTokens.expiresAt, now), isNotNull(refreshTokens.revokedAt)))
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(refreshTokens)
        .where(inArray(refreshTokens.id, batch))
        .returning({ id: refreshTokens.id })
      return rows.length
    },

    /** Audit events older than `before` (AUDIT_RETENTION), oldest first, by the (at, id) index. */
    async deleteAuditEventsBefore(before: Date, limit: number): Promise<number> {
      const batch = db
        .select({ id: auditEvents.id })
        .from(auditEvents)
        .where(lt(auditEvents.at, before))
        .orderBy(auditEvents.at)
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(auditEvents)
        .where(inArray(auditEvents.id, batch))
        .returning({ id: auditEvents.id })
      return rows.length
    },

    /**
     * MFA login challenges (`mfa_token`) that can no longer be used: expired, used, or out of
     * tries (`maxAttempts` wrong codes). The expiry is what the index serves; used or
     * exhausted ones are few, since a challenge lives minutes.
     */
    async deleteStaleMfaChallenges(now: Date, maxAttempts: number, limit: number): Promise<number> {
      const batch = db
        .select({ id: mfaChallenges.id })
        .from(mfaChallenges)
        .where(
          or(
            lte(mfaChallenges.expiresAt, now),
            isNotNull(mfaChallenges.usedAt),
            gte(mfaChallenges.attempts, maxAttempts),
          ),
        )
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(mfaChallenges)
        .where(inArray(mfaChallenges.id, batch))
        .returning({ id: mfaChallenges.id })
      return rows.length
    },

    /**
     * Pending TOTP enrolments past their expiry (never confirmed in time), by the partial
     * index totp_factors_pending_expires_at_idx. A confirmed factor has no expiry and is
     * never matched: the `confirmed_at is null` condition is repeated in the delete.
     */
    async deleteLapsedMfaEnrolments(now: Date, limit: number): Promise<number> {
      const lapsed = and(isNull(totpFactors.confirmedAt), lte(totpFactors.expiresAt, now))
      const batch = db
        .select({ userId: totpFactors.userId })
        .from(totpFactors)
        .where(lapsed)
        .orderBy(totpFactors.expiresAt)
        .limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db
        .delete(totpFactors)
        .where(and(inArray(totpFactors.userId, batch), lapsed))
        .returning({ userId: totpFactors.userId })
      return rows.length
    },
  }
}

export type CleanupRepository = ReturnType<typeof createCleanupRepository>
