import { sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/pg-core'

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

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

export const signingKeyAlgorithms = ['ES256', 'EdDSA'] as const
/**
 * `next` is published before it signs, `current` signs, `retired` stays published until
 * every token it signed has expired, `revoked` is refused at once; the cleanup job deletes
 * retired and revoked keys after that time ("gone").
 */
export const signingKeyStates = ['next', 'current', 'retired', 'revoked'] as const
export type SigningKeyState = (typeof signingKeyStates)[number]

/** Access-token signing keys, shared by every instance (core/signing-keys.ts). */
export const signingKeys = pgTable(
  'signing_keys',
  {
    /** RFC 7638 thumbprint of the public key. */
    kid: text('kid').primaryKey(),
    algorithm: text('algorithm', { enum: signingKeyAlgorithms }).notNull(),
    state: text('state', { enum: signingKeyStates }).notNull(),
    /** The public JWK; only its public parameters are ever read from it. */
    publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
    /** PKCS#8 sealed with AES-256-GCM under a key derived from SECRET_KEY; null once revoked. */
    privateKey: text('private_key'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    /** When it became `current`. */
    activatedAt: timestamptz('activated_at'),
    retiredAt: timestamptz('retired_at'),
    revokedAt: timestamptz('revoked_at'),
    /**
     * Set on the first key made where none existed (an upgrade from HS256): until then,
     * access tokens signed with the HS256 key before this key's creation stay valid.
     */
    hs256AcceptedUntil: timestamptz('hs256_accepted_until'),
  },
  (t) => [
    check('signing_keys_algorithm_valid', sql`${t.algorithm} in ('ES256', 'EdDSA')`),
    check('signing_keys_state_valid', sql`${t.state} in ('next', 'current', 'retired', 'revoked')`),
    // One current and one next key, however many instances create or rotate them at once.
    uniqueIndex('signing_keys_one_per_live_state')
      .on(t.state)
      .where(sql`${t.state} in ('current', 'next')`),
  ],
)

/**
 * The audit log: one row per security event, written in the transaction of the change it
 * describes, never updated, deleted only by the cleanup once older than AUDIT_RETENTION.
 * `actor_id` and `user_id` carry no foreign key: the log outlives the accounts it names.
 * `type` is checked by the application (core/audit-events.ts), not by the database, so a
 * new type needs no migration.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: varchar('id', { length: 26 }).primaryKey(),
    type: text('type').notNull(),
    at: timestamptz('at').notNull(),
    actorId: varchar('actor_id', { length: 26 }),
    userId: varchar('user_id', { length: 26 }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    // Keyset pagination, newest first, on (at, id): each filter of GET /audit-events has
    // an index that leads with it, so a page costs a short range scan at any depth.
    // The first also serves the retention purge (oldest first).
    index('audit_events_at_id_idx').on(t.at, t.id),
    index('audit_events_user_id_at_id_idx').on(t.userId, t.at, t.id),
    index('audit_events_actor_id_at_id_idx').on(t.actorId, t.at, t.id),
    index('audit_events_type_at_id_idx').on(t.type, t.at, t.id),
  ],
)

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

/**
 * When each scheduled job last started, in the database's time: every process runs the
 * cleanup on its own timer, and a round starts only if no process started one within the
 * interval, so several instances and workers clean up once per interval in total.
 */
export const scheduledRuns = pgTable('scheduled_runs', {
  name: text('name').primaryKey(),
  lastStartedAt: timestamptz('last_started_at').notNull(),
})

export type UserRow = typeof users.$inferSelect
export type NewUserRow = typeof users.$inferInsert
export type OneTimeCodeRow = typeof oneTimeCodes.$inferSelect
export type RefreshTokenRow = typeof refreshTokens.$inferSelect
export type SessionRow = typeof sessions.$inferSelect
export type SigningKeyRow = typeof signingKeys.$inferSelect
export type AuditEventRow = typeof auditEvents.$inferSelect
export type NewAuditEventRow = typeof auditEvents.$inferInsert
export type MfaChallengeRow = typeof mfaChallenges.$inferSelect
