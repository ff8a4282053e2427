import { eq, sql } from 'drizzle-orm'
import type { Db } from '../db/client.js'
import { type NewUserRow, type UserRow, users } from '../db/schema.js'

export function createUsersRepository(db: Db) {
  // Named (prepared) statement: the hot path of every authenticated request.
  const findByIdStatement = db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .limit(1)
    .prepare('users_find_by_id')

  return {
    async findById(id: string): Promise<UserRow | undefined> {
      const [row] = await findByIdStatement.execute({ id })
      return row
    },

    async findByEmail(email: string): Promise<UserRow | undefined> {
      const [row] = await db.select().from(users).where(eq(users.email, email)).limit(1)
      return row
    },

    async insert(values: NewUserRow): Promise<UserRow> {
      const [row] = await db.insert(users).values(values).returning()
      if (!row) throw new Error('insert returned no row')
      return row
    },

    async update(id: string, changes: Partial<NewUserRow>): Promise<UserRow | undefined> {
      const [row] = await db
        .update(users)
        .set({ ...changes, updatedAt: sql`now()` })
        .where(eq(users.id, id))
        .returning()
      return row
    },

    /**
     * Marks the address verified (plus any other `changes`); `verified_at` keeps the first
     * verification, which is what shields the account from the unverified-user cleanup.
     */
    async markVerified(
      id: string,
      now: Date,
      changes: Partial<NewUserRow> = {},
    ): Promise<UserRow | undefined> {
      const [row] = await db
        .update(users)
        .set({
          ...changes,
          isVerified: true,
          verifiedAt: sql`coalesce(${users.verifiedAt}, ${now})`,
          updatedAt: sql`now()`,
        })
        .where(eq(users.id, id))
        .returning()
      return row
    },
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
