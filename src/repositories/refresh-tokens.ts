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
  }
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>
