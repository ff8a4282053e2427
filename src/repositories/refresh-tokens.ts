import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import { type RefreshTokenRow, refreshTokens } from '../db/schema.js'

export function createRefreshTokensRepository(db: Db) {
  return {
    async insert(values: typeof refreshTokens.$inferInsert): Promise<RefreshTokenRow> {
      const [row] = await db.insert(refreshTokens).values(values).returning()
      if (!row) throw new Error('insert returned no row')
      return row
    },

    async findByHash(tokenHash: string): Promise<RefreshTokenRow | undefined> {
      const [row] = await db
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, tokenHash))
        .limit(1)
      return row
    },

    /**
     * Spends a live token atomically: of two concurrent calls with one token, exactly one
     * gets the row back. Undefined when it was already spent, revoked or expired.
     */
    async spend(tokenHash: string, now: Date): Promise<RefreshTokenRow | undefined> {
      const [row] = await db
        .update(refreshTokens)
        .set({ spentAt: now })
        .where(
          and(
            eq(refreshTokens.tokenHash, tokenHash),
            isNull(refreshTokens.spentAt),
            isNull(refreshTokens.revokedAt),
            sql`${refreshTokens.expiresAt} > ${now}`,
          ),
        )
        .returning()
      return row
    },

    /** Revokes every token of one login; returns how many were live. */
    async revokeFamily(familyId: string, now: Date): Promise<number> {
      const rows = await db
        .update(refreshTokens)
        .set({ revokedAt: now })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length
    },

    /**
     * Revokes every login of a user (password change or reset, deactivation). Call it after
     * updating the user's row in the same transaction: a refresh locks that row first, so
     * it cannot add a token this statement does not see.
     */
    async revokeAllForUser(userId: string, now: Date): Promise<number> {
      const rows = await db
        .update(refreshTokens)
        .set({ revokedAt: now })
        .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length
    },
  }
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>
