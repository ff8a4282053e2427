import { and, eq, isNull } from 'drizzle-orm'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/core/config.js'
import { refreshTokens, users } from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createEventRecorder } from '../../src/services/audit.js'
import { createUsersService } from '../../src/services/users.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import { invalidToken, login, postJson, refresh } from '../helpers/auth-flow.js'
import { authHeaders, type MadeUser, makeAdmin, makeUser } from '../helpers/factories.js'

// An admin may withdraw a user's verification (`is_verified: false`). Like a deactivated
// user, such a user's tokens are refused with 401 invalid_token (the contract's answer for
// a token that no longer works); a new login then says why: 403 email_not_verified.

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
const REJECTED = { detail: 'Could not validate credentials', code: 'invalid_token' }

const me = (accessToken: string) =>
  t.app.inject({
    method: 'GET',
    url: '/users/me',
    headers: { authorization: `Bearer ${accessToken}` },
  })

async function call(method: 'PATCH' | 'DELETE', url: string, as: MadeUser, payload?: object) {
  const headers = await authHeaders(t, as)
  return t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
}

async function expectTokensRefused(tokens: { access_token: string; refresh_token: string }) {
  const access = await me(tokens.access_token)
  expect(access.statusCode).toBe(401)
  expect(access.headers['www-authenticate']).toBe('Bearer')
  expect(access.json()).toEqual(REJECTED)
  const refreshed = await refresh(t, tokens.refresh_token)
  expect(refreshed.statusCode).toBe(401)
  expect(refreshed.json()).toEqual(invalidToken)
}

const unrevokedTokens = (userId: string) =>
  t.db
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))

describe('a user whose verification an admin withdrew', () => {
  it('has every token refused, even once verified again; login is 403', async () => {
    const [admin, user] = [await makeAdmin(t), await makeUser(t)]
    const tokens = await login(t, user.email, user.password)
    t.clock.advance(1_000)
    const response = await call('PATCH', `/users/${user.id}`, admin, { is_verified: false })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ is_verified: false })
    await expectTokensRefused(tokens)
    expect(await unrevokedTokens(user.id)).toEqual([])
    const again = await postJson(t, '/auth/login', { email: user.email, password: user.password })
    expect(again.statusCode).toBe(403)
    expect(again.json()).toEqual({ detail: 'Email not verified', code: 'email_not_verified' })

    // Verified again, the user logs in anew; the old tokens stay dead.
    await call('PATCH', `/users/${user.id}`, admin, { is_verified: true })
    await expectTokensRefused(tokens)
    const fresh = await login(t, user.email, user.password)
    expect((await me(fresh.access_token)).statusCode).toBe(200)
  })

  it('is refused on access and refresh even when its tokens were not revoked', async () => {
    // The row changed behind the API's back (no revocation): the check itself must hold.
    const user = await makeUser(t)
    const tokens = await login(t, user.email, user.password)
    await createUsersRepository(t.db).update(user.id, { isVerified: false })
    await expectTokensRefused(tokens)
  })
})

describe('the last-admin rule counts verified admins only', () => {
  it('lets an admin un-verify itself once another admin is verified', async () => {
    const admin = await makeAdmin(t)
    const other = await makeAdmin(t, { isVerified: false, verifiedAt: null })
    const verified = await call('PATCH', `/users/${other.id}`, admin, { is_verified: true })
    expect(verified.statusCode).toBe(200)
    const self = await call('PATCH', `/users/${admin.id}`, admin, { is_verified: false })
    expect(self.statusCode).toBe(200)
    expect(self.json()).toMatchObject({ is_verified: false, role: 'admin' })
    // The other admin is now the last one that counts.
    const refused = await call('PATCH', `/users/${other.id}`, other, { is_verified: false })
    expect(refused.json()).toEqual(LAST_ADMIN)
  })

  it('makes FIRST_ADMIN_EMAIL an admin at start when the only admin is unverified', async () => {
    await makeAdmin(t, { isVerified: false, verifiedAt: null })
    const config = loadConfig({
      SECRET_KEY: TEST_SECRET,
      BCRYPT_ROUNDS: '4',
      FIRST_ADMIN_EMAIL: 'boss@example.com',
      FIRST_ADMIN_PASSWORD: 'first admin passphrase',
    })
    const service = createUsersService({
      config,
      repositories: createRepositories(t.db),
      clock: t.clock,
      recordEvent: createEventRecorder(t.clock),
    })
    const result = await service.ensureFirstAdmin()
    expect(result?.action).toBe('created')
    expect(await createUsersRepository(t.db).countActiveVerifiedAdmins()).toBe(1)
  })
})
