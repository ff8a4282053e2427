/** E-mailed one-time codes and the send throttle's record of them. */
import { sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
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

export const codePurposes = ['verify_email', 'reset_password', 'change_email'] as const
export type CodePurpose = (typeof codePurposes)[number]

/** One check per table that stores a purpose, all written from the list above. */
const purposeIsValid = (column: AnyPgColumn) =>
  sql`${column} in (${sql.raw(codePurposes.map((purpose) => `'${purpose}'`).join(', '))})`

/**
 * One live code per user and purpose: issuing a new one replaces the code, but not
 * `recent_failures`, which is how wrong tries are counted across re-issued codes.
 */
export const oneTimeCodes = pgTable(
  'one_time_codes',
  {
    userId: varchar('user_id', { length: 26 })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose', { enum: codePurposes }).notNull(),
    /** HMAC-SHA256 of the code keyed with the secret; the code itself is never stored. */
    codeHash: text('code_hash').notNull(),
    /**
     * An e-mail change's new address (normalised), to which the code was sent: what the
     * code proves and what confirming it applies. Set for that purpose only.
     */
    newEmail: text('new_email'),
    /** Tries of this code, counted before the comparison (the per-code limit). */
    failedAttempts: integer('failed_attempts').notNull().default(0),
    /**
     * When the account's last wrong tries of this purpose happened (at most the per-hour
     * limit of them, oldest first), across re-issued codes: the per-account limit.
     */
    recentFailures: timestamptz('recent_failures').array().notNull().default(sql`'{}'`),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'one_time_codes_pkey', columns: [t.userId, t.purpose] }),
    check('one_time_codes_purpose_valid', purposeIsValid(t.purpose)),
    check(
      'one_time_codes_new_email_of_change',
      sql`(${t.purpose} = 'change_email') = (${t.newEmail} is not null)`,
    ),
    index('one_time_codes_expires_at_idx').on(t.expiresAt),
  ],
)

/**
 * Codes sent per address and purpose, for the send throttle. Keyed by an HMAC of the
 * address, not by user: an e-mail change sends to an address no account has yet, and the
 * table then holds no addresses.
 */
export const codeSends = pgTable(
  'code_sends',
  {
    addressHash: text('address_hash').notNull(),
    purpose: text('purpose', { enum: codePurposes }).notNull(),
    /** When the last codes were sent (at most the per-window limit of them), oldest first. */
    sentAt: timestamptz('sent_at').array().notNull(),
  },
  (t) => [
    primaryKey({ name: 'code_sends_pkey', columns: [t.addressHash, t.purpose] }),
    check('code_sends_purpose_valid', purposeIsValid(t.purpose)),
  ],
)

export type OneTimeCodeRow = typeof oneTimeCodes.$inferSelect
