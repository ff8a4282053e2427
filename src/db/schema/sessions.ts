/** Logins: sessions and the refresh tokens of each. */
import { index, pgTable, text, uniqueIndex, varchar } from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'
import { users } from './users.js'

/** Why a session ended; `end_reason` holds one of these (audit events read it). */
export const sessionEndReasons = [
  'logout',
  'revoked',
  'revoked_by_admin',
  'reuse_detected',
  'password_changed',
  'password_reset',
  'deactivated',
  'unverified',
  'mfa_reset',
] as const
export type SessionEndReason = (typeof sessionEndReasons)[number]

/**
 * A session is one login: the refresh-token family. Its id is the `sid` claim of its
 * access tokens, which are refused once it has ended or expired (read with the user on
 * every request, a join on two primary keys).
 */
export const sessions = pgTable(
  'sessions',
  {
    id: varchar('id', { length: 26 }).primaryKey(),
    userId: varchar('user_id', { length: 26 })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The login; SESSION_MAX_AGE counts from here, however often it is refreshed. */
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    /** The login or the last refresh (not every request: that would be a write per read). */
    lastUsedAt: timestamptz('last_used_at').notNull(),
    /**
     * When it ends unless refreshed: the refresh token's lifetime from the last use, capped
     * at SESSION_MAX_AGE from the login. Its live refresh token expires then too.
     */
    expiresAt: timestamptz('expires_at').notNull(),
    endedAt: timestamptz('ended_at'),
    endReason: text('end_reason', { enum: sessionEndReasons }),
    /** As sent at login, truncated. */
    userAgent: text('user_agent'),
    /** The client address at login, as the trusted-proxy setting resolves it. */
    ip: text('ip'),
  },
  (t) => [
    // The user's sessions, newest first (GET …/sessions).
    index('sessions_user_id_created_at_idx').on(t.userId, t.createdAt),
    index('sessions_expires_at_idx').on(t.expiresAt),
  ],
)

/**
 * Opaque refresh tokens, stored as SHA-256. Each belongs to a login `family` (its session);
 * a spent token presented again after the grace period ends the whole session.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: varchar('id', { length: 26 }).primaryKey(),
    userId: varchar('user_id', { length: 26 })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The session (login) the token belongs to. */
    familyId: varchar('family_id', { length: 26 })
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    spentAt: timestamptz('spent_at'),
    revokedAt: timestamptz('revoked_at'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('refresh_tokens_token_hash_key').on(t.tokenHash),
    index('refresh_tokens_family_id_idx').on(t.familyId),
    index('refresh_tokens_user_id_idx').on(t.userId),
    index('refresh_tokens_expires_at_idx').on(t.expiresAt),
  ],
)

export type SessionRow = typeof sessions.$inferSelect
export type RefreshTokenRow = typeof refreshTokens.$inferSelect
