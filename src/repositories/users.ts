import { and, desc, eq, getTableColumns, like, or, type SQL, sql } from 'drizzle-orm'
import type { Cursor } from '../core/cursor.js'
import type { Db } from '../db/client.js'
import { lockForTransaction } from '../db/locks.js'
import { type NewUserRow, type SessionRow, sessions, type UserRow, users } from '../db/schema.js'

/** Filters and keyset position of `GET /users`; `limit` is the number of rows to read. */
export interface UserListFilter {
  limit: number
  after: Cursor | null
  role?: UserRow['role']
  isVerified?: boolean
  isActive?: boolean
  /** Case-insensitive prefix of the e-mail or the full name, taken literally. */
  q?: string
}

/** What authenticating a request reads: the user, and its token's session if still there. */
/** Where the triggers of migration 0009 announce changes to users and sessions (payload: user id). */
export const AUTH_CHANGES_CHANNEL = 'auth_changes'

export interface UserWithSession {
  user: UserRow
  session: Pick<SessionRow, 'createdAt' | 'expiresAt' | 'endedAt'> | null
}

/** `%`, `_` and backslash are LIKE syntax; a search for them must match them literally. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, '\\$&')

// PostgreSQL keeps microseconds and a Date only milliseconds: the cursor needs the former.
const createdAtText = sql<string>`to_char(${users.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

function listConditions(filter: UserListFilter): SQL | undefined {
  const conditions: (SQL | undefined)[] = []
  if (filter.after) {
    // A row comparison, so the (created_at, id) index serves it for any page depth.
    conditions.push(
      sql`(${users.createdAt}, ${users.id}) < (${filter.after.createdAt}::timestamptz, ${filter.after.id})`,
    )
  }
  if (filter.role !== undefined) conditions.push(eq(users.role, filter.role))
  if (filter.isVerified !== undefined) conditions.push(eq(users.isVerified, filter.isVerified))
  if (filter.isActive !== undefined) conditions.push(eq(users.isActive, filter.isActive))
  if (filter.q !== undefined) {
    const prefix = `${escapeLike(filter.q)}%`
    // Each side matches an expression index (text_pattern_ops), so both are range scans.
    conditions.push(
      or(
        like(users.email, prefix.toLowerCase()),
        sql`lower(${users.fullName}) like lower(${prefix})`,
      ),
    )
  }
  return and(...conditions)
}

export function createUsersRepository(db: Db) {
  // Named (prepared) statement: the hot path of every authenticated request.
  const findByIdStatement = db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .limit(1)
    .prepare('users_find_by_id')

  // The hot path of every authenticated request: the user and the state of the token's
  // session in one round trip, a join on two primary keys. The session must be the user's.
  const findWithSessionStatement = db
    .select({
      user: users,
      session: {
        createdAt: sessions.createdAt,
        expiresAt: sessions.expiresAt,
        endedAt: sessions.endedAt,
      },
    })
    .from(users)
    .leftJoin(
      sessions,
      and(eq(sessions.id, sql.placeholder('sessionId')), eq(sessions.userId, users.id)),
    )
    .where(eq(users.id, sql.placeholder('id')))
    .limit(1)
    .prepare('users_find_with_session')

  return {
    async findById(id: string): Promise<UserRow | undefined> {
      const [row] = await findByIdStatement.execute({ id })
      return row
    },

    /** The user and the state of one of its sessions (null when it is not theirs or gone). */
    async findWithSession(id: string, sessionId: string): Promise<UserWithSession | undefined> {
      const [row] = await findWithSessionStatement.execute({ id, sessionId })
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
     * Swaps a password hash for a stronger one of the same password (not a password change:
     * nothing else moves). Only while `currentHash` is still stored; false otherwise.
     */
    async replacePasswordHash(id: string, currentHash: string, newHash: string): Promise<boolean> {
      const rows = await db
        .update(users)
        .set({ passwordHash: newHash })
        .where(and(eq(users.id, id), eq(users.passwordHash, currentHash)))
        .returning({ id: users.id })
      return rows.length > 0
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

    /** One page of users, newest first, each with its keyset position for the next cursor. */
    async list(filter: UserListFilter): Promise<{ row: UserRow; createdAt: string }[]> {
      const rows = await db
        .select({ ...getTableColumns(users), cursorCreatedAt: createdAtText })
        .from(users)
        .where(listConditions(filter))
        .orderBy(desc(users.createdAt), desc(users.id))
        .limit(filter.limit)
      return rows.map(({ cursorCreatedAt, ...row }) => ({ row, createdAt: cursorCreatedAt }))
    },

    /** Admins who can log in; the partial index on active admins serves it. */
    async countActiveVerifiedAdmins(): Promise<number> {
      const [row] = await db
        .select({ count: sql<number>`count(*)::int` })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.isActive, true), eq(users.isVerified, true)))
      return row?.count ?? 0
    },

    /** True when a row was deleted; codes and refresh tokens go with it (on delete cascade). */
    async delete(id: string): Promise<boolean> {
      const rows = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id })
      return rows.length > 0
    },

    /**
     * Inside a transaction: waits for, then holds until commit, the lock that every change
     * to the set of active admins takes, so two of them never both see "another admin left".
     */
    async lockAdminSet(): Promise<void> {
      await lockForTransaction(db, 'adminSet')
    },
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
