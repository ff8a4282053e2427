import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { newId } from '../../src/core/ids.js'
import { generateRefreshToken, hashPassword, hashToken } from '../../src/core/security.js'
import type { Db } from '../../src/db/client.js'
import { type NewUserRow, refreshTokens, type UserRow } from '../../src/db/schema.js'
import { createRefreshTokensRepository } from '../../src/repositories/refresh-tokens.js'
import { createSessionsRepository } from '../../src/repositories/sessions.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import type { TestApp } from './app.js'

/** A password no common-password list holds; every factory user gets it unless told otherwise. */
/** A password that is not in the common-password list: every test user's, unless one says otherwise. */
export const PASSWORD = 'brewed-arabica-42-crema'
/** Another such password, for changes and resets. */
export const NEW_PASSWORD = 'steamed-oat-milk-flat-white'

let sequence = 0
/** Unique across test files running in parallel, and readable in a failure message. */
export const uniqueEmail = (prefix = 'user') =>
  `${prefix}-${++sequence}-${randomBytes(4).toString('hex')}@example.com`

export type MadeUser = UserRow & { password: string }

/**
 * Inserts a verified, active user straight through the repository (bcrypt at 4 rounds),
 * bypassing signup. `password` is the plain text, returned for login and PATCH tests.
 */
export async function makeUser(
  target: TestApp | Db,
  overrides: Partial<NewUserRow> & { password?: string } = {},
): Promise<MadeUser> {
  const db = 'app' in target ? target.db : target
  const { password = PASSWORD, ...columns } = overrides
  const isVerified = columns.isVerified ?? true
  const row = await createUsersRepository(db).insert({
    id: newId(),
    email: uniqueEmail(columns.role === 'admin' ? 'admin' : 'user'),
    passwordHash: await hashPassword(password, 4),
    isVerified,
    verifiedAt: isVerified ? new Date() : null,
    ...columns,
  })
  return { ...row, password }
}

export const makeAdmin = (t: TestApp | Db, overrides: Partial<NewUserRow> = {}) =>
  makeUser(t, { role: 'admin', ...overrides })

/** A live session of `user`, as a login would start it (without a refresh token). */
export async function makeSession(t: TestApp, user: Pick<UserRow, 'id'>) {
  const now = t.clock.now()
  return createSessionsRepository(t.db).insert({
    id: newId(),
    userId: user.id,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: new Date(now.getTime() + t.config.refreshTokenTtlMs),
  })
}

/** A live refresh token of `user`, in a session of its own; returns the token's hash. */
export async function makeRefreshToken(t: TestApp, user: Pick<UserRow, 'id'>) {
  const tokenHash = hashToken(generateRefreshToken())
  await createRefreshTokensRepository(t.db).insert({
    id: newId(),
    userId: user.id,
    familyId: (await makeSession(t, user)).id,
    tokenHash,
    expiresAt: new Date(t.clock.now().getTime() + 86_400_000),
  })
  return tokenHash
}

/** When the refresh token with this hash was revoked, or null while it is live. */
export async function refreshTokenRevokedAt(t: TestApp, tokenHash: string) {
  const [row] = await t.db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
  return row?.revokedAt ?? null
}

/**
 * `Authorization` header with a real access token for `user`, signed by the app's current
 * key, of a new session.
 */
export async function authHeaders(t: TestApp, user: UserRow): Promise<{ authorization: string }> {
  const session = await makeSession(t, user)
  const { token } = t.services.tokens.issueAccessToken(user, session.id)
  return { authorization: `Bearer ${token}` }
}
