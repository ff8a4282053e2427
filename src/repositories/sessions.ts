import { and, desc, eq, gt, inArray, isNull, ne, type SQL } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import {
  refreshTokens,
  type SessionEndReason,
  type SessionRow,
  sessions,
  type UserRow,
  users,
} from '../db/schema.js'

/** Which sessions to end: one (of its user), or every one of a user but `except`. */
export type SessionSelector =
  | { userId: string; sessionId: string }
  | { userId: string; except?: string }

function selected(selector: SessionSelector): SQL | undefined {
  if ('sessionId' in selector) {
    return and(eq(sessions.userId, selector.userId), eq(sessions.id, selector.sessionId))
  }
  const others = selector.except === undefined ? undefined : ne(sessions.id, selector.except)
  return and(eq(sessions.userId, selector.userId), others)
}

export function createSessionsRepository(db: Db) {
  return {
    async insert(values: typeof sessions.$inferInsert): Promise<SessionRow> {
      const [row] = await db.insert(sessions).values(values).returning()
      if (!row) throw new Error('insert returned no row')
      return row
    },

    /** The user's sessions not ended nor expired at `now`, newest first. */
    async listLive(userId: string, now: Date): Promise<SessionRow[]> {
      return db
        .select()
        .from(sessions)
        .where(
          and(eq(sessions.userId, userId), isNull(sessions.endedAt), gt(sessions.expiresAt, now)),
        )
        .orderBy(desc(sessions.createdAt), desc(sessions.id))
    },

    /**
     * Inside a transaction: the owner and the session of a refresh token, both rows locked
     * until commit. Every change that ends sessions updates the user's row or the session's
     * first, so a rotation and an ending serialise on them (users, then sessions, then
     * tokens: one order everywhere, so they never deadlock). `no key update` is what an
     * UPDATE takes: it does not make the foreign-key checks of concurrent logins wait.
     */
    async lockForRefresh(
      tokenHash: string,
    ): Promise<{ user: UserRow; session: SessionRow } | undefined> {
      const [row] = await db
        .select({ user: users, session: sessions })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.familyId))
        .innerJoin(users, eq(users.id, refreshTokens.userId))
        .where(eq(refreshTokens.tokenHash, tokenHash))
        .for('no key update', { of: [users, sessions] })
      return row
    },

    /** A refresh: the session was used now and lives until `expiresAt` unless used again. */
    async touch(id: string, now: Date, expiresAt: Date): Promise<void> {
      await db.update(sessions).set({ lastUsedAt: now, expiresAt }).where(eq(sessions.id, id))
    },

    /**
     * Ends the selected live sessions and revokes their refresh tokens; returns the ids of
     * the sessions it ended. Inside a transaction. Two statements, sessions first (the
     * order a refresh locks them in): the second takes its snapshot after the first has
     * waited out a refresh in flight, so it also sees, and revokes, the token that refresh
     * issued.
     */
    async end(selector: SessionSelector, reason: SessionEndReason, now: Date): Promise<string[]> {
      const ended = await db
        .update(sessions)
        .set({ endedAt: now, endReason: reason })
        .where(and(selected(selector), isNull(sessions.endedAt), gt(sessions.expiresAt, now)))
        .returning({ id: sessions.id })
      const ids = ended.map((row) => row.id)
      if (ids.length > 0) {
        await db
          .update(refreshTokens)
          .set({ revokedAt: now })
          .where(and(inArray(refreshTokens.familyId, ids), isNull(refreshTokens.revokedAt)))
      }
      return ids
    },
  }
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>
