import { and, eq, isNull, lt, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import { type CodePurpose, type OneTimeCodeRow, oneTimeCodes } from '../db/schema.js'

export interface NewCode {
  userId: string
  purpose: CodePurpose
  codeHash: string
  expiresAt: Date
}

export function createOneTimeCodesRepository(db: Db) {
  const live = (userId: string, purpose: CodePurpose, now: Date) =>
    and(
      eq(oneTimeCodes.userId, userId),
      eq(oneTimeCodes.purpose, purpose),
      isNull(oneTimeCodes.usedAt),
      sql`${oneTimeCodes.expiresAt} > ${now}`,
    )

  return {
    /** Issues a code, replacing the user's previous one for this purpose (tries reset to 0). */
    async upsert(code: NewCode): Promise<void> {
      await db
        .insert(oneTimeCodes)
        .values(code)
        .onConflictDoUpdate({
          target: [oneTimeCodes.userId, oneTimeCodes.purpose],
          set: {
            codeHash: code.codeHash,
            expiresAt: code.expiresAt,
            failedAttempts: 0,
            usedAt: null,
            createdAt: sql`now()`,
          },
        })
    },

    /**
     * Counts one try against a live code before it is compared, and returns the code row;
     * undefined when there is no live code or its tries are used up. Counting up front keeps
     * parallel guesses within the limit too.
     */
    async claimAttempt(
      userId: string,
      purpose: CodePurpose,
      maxAttempts: number,
      now: Date,
    ): Promise<OneTimeCodeRow | undefined> {
      const [row] = await db
        .update(oneTimeCodes)
        .set({ failedAttempts: sql`${oneTimeCodes.failedAttempts} + 1` })
        .where(and(live(userId, purpose, now), lt(oneTimeCodes.failedAttempts, maxAttempts)))
        .returning()
      return row
    },

    /**
     * Marks the code used, only if it is still the same live code: of two concurrent uses,
     * exactly one gets true.
     */
    async markUsed(
      userId: string,
      purpose: CodePurpose,
      codeHash: string,
      now: Date,
    ): Promise<boolean> {
      const rows = await db
        .update(oneTimeCodes)
        .set({ usedAt: now })
        .where(and(live(userId, purpose, now), eq(oneTimeCodes.codeHash, codeHash)))
        .returning({ userId: oneTimeCodes.userId })
      return rows.length === 1
    },
  }
}

export type OneTimeCodesRepository = ReturnType<typeof createOneTimeCodesRepository>
