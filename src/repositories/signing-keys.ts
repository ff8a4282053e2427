import { and, asc, eq, lt, or, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import { lockForTransaction } from '../db/locks.js'
import { type SigningKeyRow, signingKeys } from '../db/schema.js'

/** The channel on which key changes are announced to every instance. */
export const SIGNING_KEYS_CHANNEL = 'signing_keys'

export function createSigningKeysRepository(db: Db) {
  return {
    /** Every stored key, oldest first. */
    async list(): Promise<SigningKeyRow[]> {
      return db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt), asc(signingKeys.kid))
    },

    async insert(values: typeof signingKeys.$inferInsert): Promise<SigningKeyRow> {
      const [row] = await db.insert(signingKeys).values(values).returning()
      if (!row) throw new Error('insert returned no row')
      return row
    },

    async update(
      kid: string,
      values: Partial<typeof signingKeys.$inferInsert>,
    ): Promise<SigningKeyRow | undefined> {
      const [row] = await db
        .update(signingKeys)
        .set(values)
        .where(eq(signingKeys.kid, kid))
        .returning()
      return row
    },

    /**
     * Retired keys retired before `cutoff` and revoked keys revoked before it: every token
     * they signed has expired. Returns what it deleted.
     */
    async deleteUnusedBefore(cutoff: Date): Promise<Pick<SigningKeyRow, 'kid' | 'state'>[]> {
      return db
        .delete(signingKeys)
        .where(
          or(
            and(eq(signingKeys.state, 'retired'), lt(signingKeys.retiredAt, cutoff)),
            and(eq(signingKeys.state, 'revoked'), lt(signingKeys.revokedAt, cutoff)),
          ),
        )
        .returning({ kid: signingKeys.kid, state: signingKeys.state })
    },

    /**
     * Serialises key changes (first start, rotation, revocation) across every process until
     * the transaction ends; call it first in that transaction.
     */
    async lockForChange(): Promise<void> {
      await lockForTransaction(db, 'signingKeys')
    },

    /** Announces a change to every listening instance; delivered when the transaction commits. */
    async announce(payload: string): Promise<void> {
      await db.execute(sql`select pg_notify(${SIGNING_KEYS_CHANNEL}, ${payload})`)
    },
  }
}

export type SigningKeysRepository = ReturnType<typeof createSigningKeysRepository>
