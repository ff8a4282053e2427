/** The access-token signing keys. */
import { sql } from 'drizzle-orm'
import { check, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'

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

export type SigningKeyRow = typeof signingKeys.$inferSelect
