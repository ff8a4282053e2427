/** Accounts: the table every other one hangs from. */
import { sql } from 'drizzle-orm'
import { boolean, check, index, pgTable, text, uniqueIndex, varchar } from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'

export const users = pgTable(
  'users',
  {
    id: varchar('id', { length: 26 }).primaryKey(),
    /** Stored trimmed and lower-cased; uniqueness is therefore case-insensitive. */
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    fullName: text('full_name'),
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    isVerified: boolean('is_verified').notNull().default(false),
    /** Set once, at the first verification; the cleanup job only deletes rows where it is null. */
    verifiedAt: timestamptz('verified_at'),
    isActive: boolean('is_active').notNull().default(true),
    /** Access tokens issued before this instant are rejected (password change or reset). */
    tokensValidAfter: timestamptz('tokens_valid_after'),
    /** A confirmed TOTP factor exists: login then asks for a code (set with it, in one transaction). */
    mfaEnabled: boolean('mfa_enabled').notNull().default(false),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    check('users_email_normalised', sql`${t.email} = lower(btrim(${t.email}))`),
    check('users_role_valid', sql`${t.role} in ('user', 'admin')`),
    // Keyset pagination, newest first: (created_at, id) is the sort key of GET /users.
    // Ascending, scanned backwards for `order by created_at desc, id desc`.
    index('users_created_at_id_idx').on(t.createdAt, t.id),
    // Filtered listings keep the same keyset order.
    index('users_role_created_at_id_idx').on(t.role, t.createdAt, t.id),
    // Case-insensitive prefix search: email is stored lower-cased; full_name via lower().
    index('users_email_prefix_idx').using('btree', sql`${t.email} text_pattern_ops`),
    index('users_full_name_prefix_idx').using('btree', sql`lower(${t.fullName}) text_pattern_ops`),
    // The cleanup job scans only never-verified accounts by age.
    index('users_never_verified_created_at_idx')
      .on(t.createdAt)
      .where(sql`${t.verifiedAt} is null`),
    // Counting active admins (last-admin rule) reads a tiny partial index.
    index('users_active_admins_idx').on(t.id).where(sql`${t.role} = 'admin' and ${t.isActive}`),
  ],
)

export type UserRow = typeof users.$inferSelect
export type NewUserRow = typeof users.$inferInsert
