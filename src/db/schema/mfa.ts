/** Multi-factor authentication: TOTP factors, recovery codes, login challenges. */
import { sql } from 'drizzle-orm'
import {
  bigint,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  varchar,
} from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'
import { users } from './users.js'

/**
 * A user's TOTP factor: pending (an enrolment, until `expires_at`) until confirmed with a
 * first code. One per user; a new enrolment replaces a pending one.
 */
export const totpFactors = pgTable(
  'totp_factors',
  {
    userId: varchar('user_id', { length: 26 })
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The secret sealed with AES-256-GCM under a key derived from SECRET_KEY (core/sealing.ts). */
    secret: text('secret').notNull(),
    /** Null while the enrolment is pending. */
    confirmedAt: timestamptz('confirmed_at'),
    /** When a pending enrolment lapses; null once confirmed. */
    expiresAt: timestamptz('expires_at'),
    /** The 30-second step of the last code accepted: that code and earlier ones are refused. */
    lastStep: bigint('last_step', { mode: 'number' }),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (t) => [
    check(
      'totp_factors_pending_expires',
      sql`(${t.confirmedAt} is null) = (${t.expiresAt} is not null)`,
    ),
    // The cleanup job scans only pending enrolments by expiry.
    index('totp_factors_pending_expires_at_idx')
      .on(t.expiresAt)
      .where(sql`${t.confirmedAt} is null`),
  ],
)

/** Single-use recovery codes, stored as HMAC-SHA256 (core/mfa.ts); replaced as a set. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    userId: varchar('user_id', { length: 26 })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [primaryKey({ name: 'recovery_codes_pkey', columns: [t.userId, t.codeHash] })],
)

/**
 * The second step of a login with MFA: the `mfa_token` a right password gets, stored as
 * SHA-256. Single use, short-lived, and spent after a few wrong codes.
 */
export const mfaChallenges = pgTable(
  'mfa_challenges',
  {
    id: varchar('id', { length: 26 }).primaryKey(),
    userId: varchar('user_id', { length: 26 })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    /** Tries of this token, counted before the code is compared. */
    attempts: integer('attempts').notNull().default(0),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [
    index('mfa_challenges_user_id_idx').on(t.userId),
    index('mfa_challenges_expires_at_idx').on(t.expiresAt),
  ],
)

export type MfaChallengeRow = typeof mfaChallenges.$inferSelect
