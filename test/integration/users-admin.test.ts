import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { verifyPassword } from '../../src/core/security.js'
import { users } from '../../src/db/schema.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  authHeaders,
  type MadeUser,
  makeAdmin,
  makeRefreshToken,
  makeUser,
  refreshTokenRevokedAt,
} from '../helpers/factories.js'
import {
  callAs,
  expectError,
  FORBIDDEN,
  INVALID_TOKEN,
  MISSING_ID,
  NOT_AUTHENTICATED,
  NOT_FOUND,
  type UsersMethod,
  userJson,
} from '../helpers/users-api.js'

// What admins do to other accounts, and the rules that guard it. A user's own account is
// in users.test.ts; the first admin made from the environment in first-admin.test.ts.
let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())
// Each test starts with no users, so "the last admin" means what the test set up.
beforeEach(async () => {
  await t.db.delete(users)
})
/** The admin of the tests that need one (made in their describe's beforeEach). */
let admin: MadeUser
const withAdmin = () =>
  beforeEach(async () => {
    admin = await makeAdmin(t)
  })

const LAST_ADMIN = {
  detail: 'The last active verified admin cannot be demoted, deactivated, unverified or deleted',
  code: 'last_admin',
}

const call = (method: UsersMethod, url: string, as: MadeUser | null, payload?: object) =>
  callAs(t, method, url, as, payload)
const reload = async (id: string) => createUsersRepository(t.db).findById(id)
const activeAdmins = () => createUsersRepository(t.db).countActiveVerifiedAdmins()

describe('reading accounts is for admins', () => {
  withAdmin()

  it('GET /users/{id} returns any user to an admin', async () => {
    const user = await makeUser(t)
    const response = await call('GET', `/users/${user.id}`, admin)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual(userJson(user))
  })

  it('GET /users/{id} is 404 for an unknown id and 422 for a malformed one', async () => {
    expectError(await call('GET', `/users/${MISSING_ID}`, admin), 404, NOT_FOUND)
    const malformed = await call('GET', '/users/not-a-ulid', admin)
    expect(malformed.statusCode).toBe(422)
    expect(malformed.json()).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['path', 'id'], type: 'string_pattern_mismatch' }],
    })
  })

  it('is 403 for a non-admin: another user (BOLA), themself, or the list', async () => {
    const [ana, bea] = [await makeUser(t), await makeUser(t)]
    expectError(await call('GET', `/users/${bea.id}`, ana), 403, FORBIDDEN)
    expectError(await call('GET', `/users/${ana.id}`, ana), 403, FORBIDDEN)
    expectError(await call('GET', `/users/${MISSING_ID}`, ana), 403, FORBIDDEN)
    expectError(await call('GET', '/users', ana), 403, FORBIDDEN)
    expectError(await call('DELETE', `/users/${bea.id}`, ana), 403, FORBIDDEN)
    expect(await reload(bea.id)).toBeDefined()
  })

  it('is 401 without a token', async () => {
    const response = await call('GET', '/users', null)
    expectError(response, 401, NOT_AUTHENTICATED)
    expect(response.headers['www-authenticate']).toBe('Bearer')
  })
})

describe('an admin editing an account', () => {
  withAdmin()

  it('sets email (normalised), role and full_name', async () => {
    const user = await makeUser(t)
    const email = `Renamed-${user.id}@Example.COM`
    const response = await call('PATCH', `/users/${user.id}`, admin, {
      email: `  ${email} `,
      role: 'admin',
      full_name: 'Promoted',
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({
      email: email.toLowerCase(),
      role: 'admin',
      full_name: 'Promoted',
    })
  })

  it('answers 409 email_taken for an address in use, whatever its case', async () => {
    const [ana, bea] = [await makeUser(t), await makeUser(t)]
    const response = await call('PATCH', `/users/${ana.id}`, admin, {
      email: bea.email.toUpperCase(),
      full_name: 'Not applied',
    })
    expectError(response, 409, { detail: 'Email already registered', code: 'email_taken' })
    expect(await reload(ana.id)).toMatchObject({ email: ana.email, fullName: null })
  })

  it('is_verified true sets verified_at once; false keeps it (cleanup never deletes them)', async () => {
    const user = await makeUser(t, { isVerified: false, verifiedAt: null })
    const verified = await call('PATCH', `/users/${user.id}`, admin, { is_verified: true })
    expect(verified.json()).toMatchObject({ is_verified: true })
    const firstVerifiedAt = (await reload(user.id))?.verifiedAt
    expect(firstVerifiedAt).toBeInstanceOf(Date)
    const unverified = await call('PATCH', `/users/${user.id}`, admin, { is_verified: false })
    expect(unverified.json()).toMatchObject({ is_verified: false })
    expect((await reload(user.id))?.verifiedAt).toEqual(firstVerifiedAt)
    t.clock.advance(60_000)
    await call('PATCH', `/users/${user.id}`, admin, { is_verified: true })
    expect((await reload(user.id))?.verifiedAt).toEqual(firstVerifiedAt)
  })

  it('sets a password without current_password; a weak one is 422', async () => {
    const user = await makeUser(t)
    const weak = await call('PATCH', `/users/${user.id}`, admin, { password: 'qwertyuiop' })
    expect(weak.statusCode).toBe(422)
    expect(weak.json().code).toBe('weak_password')
    const response = await call('PATCH', `/users/${user.id}`, admin, {
      password: 'admin chosen horse staple',
    })
    expect(response.statusCode).toBe(200)
    expect((await reload(user.id))?.passwordHash).not.toBe(user.passwordHash)
  })

  it('is 404 for an unknown id and 422 for a malformed one', async () => {
    expectError(
      await call('PATCH', `/users/${MISSING_ID}`, admin, { full_name: 'X' }),
      404,
      NOT_FOUND,
    )
    const malformed = await call('PATCH', '/users/01JD8X4ZQK3V7M2N5P6R8S9T0', admin, {})
    expect(malformed.statusCode).toBe(422)
    expect(malformed.json().detail[0].loc).toEqual(['path', 'id'])
  })
})

describe('an admin deleting an account', () => {
  withAdmin()

  it('deletes the user; their token is then 401 and the id 404', async () => {
    const user = await makeUser(t)
    const userHeaders = await authHeaders(t, user)
    const response = await call('DELETE', `/users/${user.id}`, admin)
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    expectError(await call('GET', `/users/${user.id}`, admin), 404, NOT_FOUND)
    const me = await t.app.inject({ method: 'GET', url: '/users/me', headers: userHeaders })
    expectError(me, 401, INVALID_TOKEN)
    expect(me.headers['www-authenticate']).toBe('Bearer')
  })

  it('is 404 for an unknown id and 422 for a malformed one', async () => {
    expectError(await call('DELETE', `/users/${MISSING_ID}`, admin), 404, NOT_FOUND)
    expect((await call('DELETE', '/users/abc', admin)).statusCode).toBe(422)
  })
})

describe('the last active admin', () => {
  it('can be neither un-verified, demoted, deactivated nor deleted, even by themself (unverified and inactive admins do not count)', async () => {
    const admin = await makeAdmin(t)
    await makeAdmin(t, { isVerified: false, verifiedAt: null }) // cannot log in: does not count
    await makeAdmin(t, { isActive: false }) // an inactive admin does not count
    for (const body of [{ is_verified: false }, { role: 'user' }, { is_active: false }]) {
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
      isVerified: true,
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
      // Both sign in before the race: a session made inside it could name an admin the
      // other request has already deleted.
      const [headersA, headersB] = [await authHeaders(t, a), await authHeaders(t, b)]
      const responses = await Promise.all([
        t.app.inject({ method, url: `/users/${b.id}`, headers: headersA, payload: body }),
        t.app.inject({ method, url: `/users/${a.id}`, headers: headersB, payload: body }),
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
    const refresh = await makeRefreshToken(t, user)
    t.clock.advance(1_000)
    const response = await call('PATCH', `/users/${user.id}`, admin, { is_active: false })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ is_active: false })
    const me = await t.app.inject({ method: 'GET', url: '/users/me', headers: userHeaders })
    expect(me.statusCode).toBe(401)
    expect(me.json()).toEqual({ detail: 'Could not validate credentials', code: 'invalid_token' })
    expect(me.headers['www-authenticate']).toBe('Bearer')
    expect(await refreshTokenRevokedAt(t, refresh)).toBeInstanceOf(Date)

    const back = await call('PATCH', `/users/${user.id}`, admin, { is_active: true })
    expect(back.json()).toMatchObject({ is_active: true })
    const again = await t.app.inject({ method: 'GET', url: '/users/me', headers: userHeaders })
    expect(again.statusCode).toBe(401)
  })

  it('a password change revokes refresh tokens; a name change does not', async () => {
    const user = await makeUser(t)
    const refresh = await makeRefreshToken(t, user)
    await call('PATCH', `/users/${user.id}`, user, { full_name: 'Renamed' })
    expect(await refreshTokenRevokedAt(t, refresh)).toBeNull()
    const response = await call('PATCH', `/users/${user.id}`, user, {
      password: 'another long passphrase',
      current_password: user.password,
    })
    expect(response.statusCode).toBe(200)
    expect(await refreshTokenRevokedAt(t, refresh)).toBeInstanceOf(Date)
    const row = await createUsersRepository(t.db).findById(user.id)
    expect(await verifyPassword('another long passphrase', row?.passwordHash ?? '')).toBe(true)
  })
})
