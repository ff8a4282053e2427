import { eq } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/core/config.js'
import { newId } from '../../src/core/ids.js'
import { generateRefreshToken, hashToken, verifyPassword } from '../../src/core/security.js'
import { createDatabase } from '../../src/db/client.js'
import { refreshTokens, users } from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { createRefreshTokensRepository } from '../../src/repositories/refresh-tokens.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createEventRecorder } from '../../src/services/audit.js'
import { createUsersService } from '../../src/services/users.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import {
  authHeaders,
  type MadeUser,
  makeAdmin,
  makeSession,
  makeUser,
} from '../helpers/factories.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())
// Each test starts with no users, so "the last admin" means what the test set up.
beforeEach(async () => {
  await t.db.delete(users)
})

const LAST_ADMIN = {
  detail: 'The last active verified admin cannot be demoted, deactivated, unverified or deleted',
  code: 'last_admin',
}

async function call(
  method: 'GET' | 'PATCH' | 'DELETE',
  url: string,
  as: MadeUser,
  payload?: object,
): Promise<LightMyRequestResponse> {
  const headers = await authHeaders(t, as)
  return t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
}

const activeAdmins = () => createUsersRepository(t.db).countActiveVerifiedAdmins()

async function giveRefreshToken(userId: string) {
  const token = generateRefreshToken()
  await createRefreshTokensRepository(t.db).insert({
    id: newId(),
    userId,
    familyId: (await makeSession(t, { id: userId })).id,
    tokenHash: hashToken(token),
    expiresAt: new Date(t.clock.now().getTime() + 86_400_000),
  })
  return hashToken(token)
}

async function revokedAt(tokenHash: string) {
  const [row] = await t.db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
  return row?.revokedAt ?? null
}

describe('the last active admin', () => {
  it('can be neither demoted, deactivated nor deleted, even by themself', async () => {
    const admin = await makeAdmin(t)
    await makeAdmin(t, { isActive: false }) // an inactive admin does not count
    for (const body of [
      { role: 'user' },
      { is_active: false },
      { role: 'user', is_active: false },
    ]) {
      const response = await call('PATCH', `/users/${admin.id}`, admin, body)
      expect(response.statusCode).toBe(409)
      expect(response.json()).toEqual(LAST_ADMIN)
    }
    const deletion = await call('DELETE', `/users/${admin.id}`, admin)
    expect(deletion.statusCode).toBe(409)
    expect(deletion.json()).toEqual(LAST_ADMIN)
    expect(await createUsersRepository(t.db).findById(admin.id)).toMatchObject({
      role: 'admin',
      isActive: true,
    })
  })

  it('may be edited otherwise, and demoted once another admin exists', async () => {
    const admin = await makeAdmin(t)
    const renamed = await call('PATCH', `/users/${admin.id}`, admin, {
      role: 'admin',
      is_active: true,
      full_name: 'Still Admin',
    })
    expect(renamed.statusCode).toBe(200)
    const other = await makeAdmin(t)
    const demoted = await call('PATCH', `/users/${other.id}`, admin, { role: 'user' })
    expect(demoted.statusCode).toBe(200)
    expect(demoted.json()).toMatchObject({ role: 'user' })
    const self = await call('PATCH', `/users/${admin.id}`, admin, { role: 'user' })
    expect(self.json()).toEqual(LAST_ADMIN)
  })

  it.each([
    ['demote each other', { role: 'user' }, 'PATCH'],
    ['deactivate each other', { is_active: false }, 'PATCH'],
    ['un-verify each other', { is_verified: false }, 'PATCH'],
    ['delete each other', undefined, 'DELETE'],
  ] as const)('survives two admins who %s at the same moment', async (_name, body, method) => {
    for (let round = 0; round < 3; round++) {
      await t.db.delete(users)
      const [a, b] = [await makeAdmin(t), await makeAdmin(t)]
      const responses = await Promise.all([
        call(method, `/users/${b.id}`, a, body),
        call(method, `/users/${a.id}`, b, body),
      ])
      const statuses = responses.map((response) => response.statusCode).sort()
      // The loser is refused by the rule (409) or, if the winner committed before its token
      // was checked, by its lost rights (401/403). Never both succeed.
      expect(statuses.filter((status) => status < 300)).toHaveLength(1)
      expect([401, 403, 409]).toContain(statuses[1])
      expect(await activeAdmins()).toBe(1)
    }
  })
})

describe('deactivation and password changes', () => {
  it('deactivation makes old tokens 401, revokes refresh tokens, and survives reactivation', async () => {
    const admin = await makeAdmin(t)
    const user = await makeUser(t)
    const userHeaders = await authHeaders(t, user)
    const refresh = await giveRefreshToken(user.id)
    t.clock.advance(1_000)
    const response = await call('PATCH', `/users/${user.id}`, admin, { is_active: false })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ is_active: false })
    const me = await t.app.inject({ method: 'GET', url: '/users/me', headers: userHeaders })
    expect(me.statusCode).toBe(401)
    expect(me.json()).toEqual({ detail: 'Could not validate credentials', code: 'invalid_token' })
    expect(me.headers['www-authenticate']).toBe('Bearer')
    expect(await revokedAt(refresh)).toBeInstanceOf(Date)

    const back = await call('PATCH', `/users/${user.id}`, admin, { is_active: true })
    expect(back.json()).toMatchObject({ is_active: true })
    const again = await t.app.inject({ method: 'GET', url: '/users/me', headers: userHeaders })
    expect(again.statusCode).toBe(401)
  })

  it('a password change revokes refresh tokens; a name change does not', async () => {
    const user = await makeUser(t)
    const refresh = await giveRefreshToken(user.id)
    await call('PATCH', `/users/${user.id}`, user, { full_name: 'Renamed' })
    expect(await revokedAt(refresh)).toBeNull()
    const response = await call('PATCH', `/users/${user.id}`, user, {
      password: 'another long passphrase',
      current_password: user.password,
    })
    expect(response.statusCode).toBe(200)
    expect(await revokedAt(refresh)).toBeInstanceOf(Date)
    const row = await createUsersRepository(t.db).findById(user.id)
    expect(await verifyPassword('another long passphrase', row?.passwordHash ?? '')).toBe(true)
  })
})

describe('first admin from FIRST_ADMIN_EMAIL / FIRST_ADMIN_PASSWORD', () => {
  const PASSWORD = 'first admin passphrase'
  const serviceFor = (db = t.db, email = 'Boss@Example.com') =>
    createUsersService({
      config: loadConfig({
        SECRET_KEY: TEST_SECRET,
        BCRYPT_ROUNDS: '4',
        FIRST_ADMIN_EMAIL: email,
        FIRST_ADMIN_PASSWORD: PASSWORD,
      }),
      repositories: createRepositories(db),
      clock: t.clock,
      recordEvent: createEventRecorder(t.clock),
    })

  it('does nothing when unset', async () => {
    const service = createUsersService({
      config: loadConfig({ SECRET_KEY: TEST_SECRET }),
      repositories: createRepositories(t.db),
      clock: t.clock,
      recordEvent: createEventRecorder(t.clock),
    })
    expect(await service.ensureFirstAdmin()).toBeNull()
    expect(await t.db.select().from(users)).toEqual([])
  })

  it('creates a verified admin once; later starts change nothing', async () => {
    const first = await serviceFor().ensureFirstAdmin()
    expect(first?.action).toBe('created')
    expect(first?.user).toMatchObject({
      email: 'boss@example.com',
      role: 'admin',
      isVerified: true,
      isActive: true,
    })
    expect(first?.user.verifiedAt).toBeInstanceOf(Date)
    expect(await verifyPassword(PASSWORD, first?.user.passwordHash ?? '')).toBe(true)
    expect(await serviceFor().ensureFirstAdmin()).toBeNull()
    expect(await serviceFor(t.db, 'other@example.com').ensureFirstAdmin()).toBeNull()
    expect(await t.db.select().from(users)).toHaveLength(1)
  })

  it('promotes, verifies and re-keys an existing user with that e-mail', async () => {
    const squatter = await makeUser(t, {
      email: 'boss@example.com',
      isVerified: false,
      verifiedAt: null,
      isActive: false,
    })
    const refresh = await giveRefreshToken(squatter.id)
    const result = await serviceFor().ensureFirstAdmin()
    expect(result?.action).toBe('promoted')
    expect(result?.user).toMatchObject({
      id: squatter.id,
      role: 'admin',
      isVerified: true,
      isActive: true,
    })
    // Whoever registered the address first does not keep access with their own password.
    expect(await verifyPassword(squatter.password, result?.user.passwordHash ?? '')).toBe(false)
    expect(await verifyPassword(PASSWORD, result?.user.passwordHash ?? '')).toBe(true)
    expect(await revokedAt(refresh)).toBeInstanceOf(Date)
  })

  it('creates exactly one admin when several processes start at once', async () => {
    // On the server each service gets its own connection pool, as separate processes would.
    const extra = await Promise.all(
      Array.from({ length: 4 }, () =>
        t.databaseUrl === null
          ? null
          : createDatabase({ databaseUrl: t.databaseUrl, pglitePath: null, poolMax: 2 }),
      ),
    )
    try {
      const services = extra.map((database) => serviceFor(database?.db ?? t.db))
      const results = await Promise.all(services.map((service) => service.ensureFirstAdmin()))
      expect(results.filter((result) => result !== null)).toHaveLength(1)
      expect(await t.db.select().from(users)).toHaveLength(1)
      expect(await activeAdmins()).toBe(1)
    } finally {
      await Promise.all(extra.map((database) => database?.close()))
    }
  })

  it('is refused at start when the password is a common one', () => {
    expect(() =>
      loadConfig({ FIRST_ADMIN_EMAIL: 'boss@example.com', FIRST_ADMIN_PASSWORD: 'password123' }),
    ).toThrow('FIRST_ADMIN_PASSWORD: Password is too common')
  })
})
