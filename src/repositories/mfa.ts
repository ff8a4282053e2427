import { and, eq, gt, isNotNull, isNull, lt, lte, or, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import { type MfaChallengeRow, mfaChallenges, recoveryCodes, totpFactors } from '../db/schema.js'

const ts = (date: Date) => sql`${date.toISOString()}::timestamptz`

/** TOTP factors, recovery codes and login challenges: the second factor's rows. */
export function createMfaRepository(db: Db) {
  return {
    /** Starts (or restarts) an enrolment; false when the user already has a confirmed factor. */
    async insertPendingFactor(userId: string, secret: string, expiresAt: Date): Promise<boolean> {
      const rows = await db
        .insert(totpFactors)
        .values({ userId, secret, expiresAt })
        .onConflictDoUpdate({
          target: totpFactors.userId,
          set: { secret, expiresAt, lastStep: null, createdAt: sql`now()` },
          where: isNull(totpFactors.confirmedAt),
        })
        .returning({ userId: totpFactors.userId })
      return rows.length > 0
    },

    async findPendingFactor(userId: string, now: Date) {
      const [row] = await db
        .select()
        .from(totpFactors)
        .where(
          and(
            eq(totpFactors.userId, userId),
            isNull(totpFactors.confirmedAt),
            gt(totpFactors.expiresAt, ts(now)),
          ),
        )
      return row
    },

    async findConfirmedFactor(userId: string) {
      const [row] = await db
        .select()
        .from(totpFactors)
        .where(and(eq(totpFactors.userId, userId), isNotNull(totpFactors.confirmedAt)))
      return row
    },

    /** Confirms a live pending enrolment with the step of its first code; false when none. */
    async confirmFactor(userId: string, step: number, now: Date): Promise<boolean> {
      const rows = await db
        .update(totpFactors)
        .set({ confirmedAt: now, expiresAt: null, lastStep: step })
        .where(
          and(
            eq(totpFactors.userId, userId),
            isNull(totpFactors.confirmedAt),
            gt(totpFactors.expiresAt, ts(now)),
          ),
        )
        .returning({ userId: totpFactors.userId })
      return rows.length > 0
    },

    /**
     * Records `step` as the last accepted one, only if it is later than the last: of two
     * concurrent uses of one code, one UPDATE finds the row changed and returns nothing.
     */
    async acceptStep(userId: string, step: number): Promise<boolean> {
      const rows = await db
        .update(totpFactors)
        .set({ lastStep: step })
        .where(
          and(
            eq(totpFactors.userId, userId),
            isNotNull(totpFactors.confirmedAt),
            or(isNull(totpFactors.lastStep), lt(totpFactors.lastStep, step)),
          ),
        )
        .returning({ userId: totpFactors.userId })
      return rows.length > 0
    },

    /** The factor and every recovery code of the user (MFA off). */
    async deleteAll(userId: string): Promise<void> {
      await db.delete(totpFactors).where(eq(totpFactors.userId, userId))
      await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId))
      await db.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId))
    },

    /** Replaces the user's recovery codes with these hashes. */
    async replaceRecoveryCodes(userId: string, codeHashes: string[]): Promise<void> {
      await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId))
      await db.insert(recoveryCodes).values(codeHashes.map((codeHash) => ({ userId, codeHash })))
    },

    /** Spends an unused recovery code; false when it is unknown or already used. */
    async useRecoveryCode(userId: string, codeHash: string, now: Date): Promise<boolean> {
      const rows = await db
        .update(recoveryCodes)
        .set({ usedAt: now })
        .where(
          and(
            eq(recoveryCodes.userId, userId),
            eq(recoveryCodes.codeHash, codeHash),
            isNull(recoveryCodes.usedAt),
          ),
        )
        .returning({ userId: recoveryCodes.userId })
      return rows.length > 0
    },

    async countUnusedRecoveryCodes(userId: string): Promise<number> {
      const [row] = await db
        .select({ count: sql<number>`count(*)::int` })
        .from(recoveryCodes)
        .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)))
      return row?.count ?? 0
    },

    /**
     * Stores a new challenge and drops the user's spent ones (used or expired): a few per user
     * at most. The cleanup job purges those of users who do not log in again.
     */
    async insertChallenge(values: typeof mfaChallenges.$inferInsert, now: Date): Promise<void> {
      await db
        .delete(mfaChallenges)
        .where(
          and(
            eq(mfaChallenges.userId, values.userId),
            or(isNotNull(mfaChallenges.usedAt), lte(mfaChallenges.expiresAt, ts(now))),
          ),
        )
      await db.insert(mfaChallenges).values(values)
    },

    async findChallenge(id: string): Promise<MfaChallengeRow | undefined> {
      const [row] = await db.select().from(mfaChallenges).where(eq(mfaChallenges.id, id))
      return row
    },

    /**
     * Counts one try of a live challenge before its code is compared, so parallel guesses
     * cannot exceed `maxAttempts`; undefined when it is spent, used or expired.
     */
    async claimChallengeTry(
      id: string,
      maxAttempts: number,
      now: Date,
    ): Promise<MfaChallengeRow | undefined> {
      const [row] = await db
        .update(mfaChallenges)
        .set({ attempts: sql`${mfaChallenges.attempts} + 1` })
        .where(
          and(
            eq(mfaChallenges.id, id),
            isNull(mfaChallenges.usedAt),
            gt(mfaChallenges.expiresAt, ts(now)),
            lt(mfaChallenges.attempts, maxAttempts),
          ),
        )
        .returning()
      return row
    },

    /** Marks a challenge used (its try was the right one); false when it already was. */
    async useChallenge(id: string, now: Date): Promise<boolean> {
      const rows = await db
        .update(mfaChallenges)
        .set({ usedAt: now, attempts: sql`${mfaChallenges.attempts} - 1` })
        .where(and(eq(mfaChallenges.id, id), isNull(mfaChallenges.usedAt)))
        .returning({ id: mfaChallenges.id })
      return rows.length > 0
    },
  }
}

export type MfaRepository = ReturnType<typeof createMfaRepository>
