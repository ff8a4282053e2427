import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, type MadeUser, makeAdmin, makeUser } from '../helpers/factories.js'

let t: TestApp
let admin: MadeUser
beforeAll(async () => {
  t = await createTestApp()
  admin = await makeAdmin(t)
})
afterAll(() => t.close())

const MISSING_ID = '01JD8X4ZQK3V7M2N5P6R8S9T0W'
const FORBIDDEN = { detail: 'Not enough permissions', code: 'forbidden' }
const NOT_FOUND = { detail: 'User not found', code: 'not_found' }
const INVALID_TOKEN = { detail: 'Could not validate credentials', code: 'invalid_token' }

async function call(
  method: 'GET' | 'PATCH' | 'DELETE',
  url: string,
  as: MadeUser | null,
  payload?: object,
): Promise<LightMyRequestResponse> {
  const headers = as ? await authHeaders(t, as) : {}
  return t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
}

function expectError(response: LightMyRequestResponse, status: number, body: object) {
  expect(response.statusCode).toBe(status)
  expect(response.json()).toEqual(body)
}

const reload = async (id: string) => createUsersRepository(t.db).findById(id)

/** The contract's user object for a row, as the API must render it. */
const userJson = (row: MadeUser) => ({
  id: row.id,
  email: row.email,
  full_name: row.fullName,
  role: row.role,
  is_verified: row.isVerified,
  is_active: row.isActive,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
})

describe('GET /users/me', () => {
  it('returns the signed-in user, and nothing secret', async () => {
    const user = await makeUser(t, { fullName: 'Ana Lima' })
    const response = await call('GET', '/users/me', user)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual(userJson(user))
    expect(response.body).not.toMatch(/password|hash|verified_at|tokens_valid/)
  })

  it('is 401 with WWW-Authenticate without a token or with a bad one', async () => {
    const none = await call('GET', '/users/me', null)
    expectError(none, 401, { detail: 'Not authenticated', code: 'not_authenticated' })
    expect(none.headers['www-authenticate']).toBe('Bearer')
    const bad = await t.app.inject({
      method: 'GET',
      url: '/users/me',
      headers: { authorization: 'Bearer not.a.jwt' },
    })
    expectError(bad, 401, INVALID_TOKEN)
    expect(bad.headers['www-authenticate']).toBe('Bearer')
  })
})

describe('admin-only reads', () => {
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
    expectError(response, 401, { detail: 'Not authenticated', code: 'not_authenticated' })
    expect(response.headers['www-authenticate']).toBe('Bearer')
  })
})

describe('PATCH /users/{id} by the user themself', () => {
  it('changes full_name, also to null, and an empty body changes nothing', async () => {
    const user = await makeUser(t, { fullName: 'Old Name' })
    const renamed = await call('PATCH', `/users/${user.id}`, user, { full_name: 'Ana Lima' })
    expect(renamed.statusCode).toBe(200)
    expect(renamed.json()).toMatchObject({ id: user.id, full_name: 'Ana Lima', role: 'user' })
    const cleared = await call('PATCH', `/users/${user.id}`, user, { full_name: null })
    expect(cleared.json()).toMatchObject({ full_name: null })
    const unchanged = await call('PATCH', `/users/${user.id}`, user, {})
    expect(unchanged.statusCode).toBe(200)
    expect(unchanged.json()).toMatchObject({ full_name: null, email: user.email })
  })

  it('changes the password with current_password and logs every device out', async () => {
    const user = await makeUser(t)
    const oldHeaders = await authHeaders(t, user)
    t.clock.advance(1_000)
    const response = await call('PATCH', `/users/${user.id}`, user, {
      password: 'brand new horse staple',
      current_password: user.password,
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual(expect.objectContaining({ id: user.id }))
    const me = await t.app.inject({ method: 'GET', url: '/users/me', headers: oldHeaders })
    expectError(me, 401, INVALID_TOKEN)
    const fresh = await reload(user.id)
    expect(fresh?.passwordHash).not.toBe(user.passwordHash)
    expect(fresh?.tokensValidAfter?.getTime()).toBe(t.clock.now().getTime())
  })

  it('requires current_password (422) and refuses a wrong one (422 invalid_credentials)', async () => {
    const user = await makeUser(t)
    const missing = await call('PATCH', `/users/${user.id}`, user, {
      password: 'brand new horse staple',
    })
    expectError(missing, 422, {
      detail: [
        {
          loc: ['body', 'current_password'],
          msg: 'Field required to change the password',
          type: 'missing',
        },
      ],
      code: 'validation_error',
    })
    const wrong = await call('PATCH', `/users/${user.id}`, user, {
      password: 'brand new horse staple',
      current_password: 'not my password at all',
    })
    expectError(wrong, 422, {
      detail: [
        {
          loc: ['body', 'current_password'],
          msg: 'Current password is incorrect',
          type: 'invalid_credentials',
        },
      ],
      code: 'invalid_credentials',
    })
    const alone = await call('PATCH', `/users/${user.id}`, user, {
      current_password: user.password,
    })
    expect(alone.statusCode).toBe(422)
    expect(alone.json().detail[0].loc).toEqual(['body', 'password'])
    expect((await reload(user.id))?.passwordHash).toBe(user.passwordHash)
  })

  it('refuses a common password (422 weak_password) and a short one', async () => {
    const user = await makeUser(t)
    const weak = await call('PATCH', `/users/${user.id}`, user, {
      password: 'password123',
      current_password: user.password,
    })
    expectError(weak, 422, {
      detail: [
        {
          loc: ['body', 'password'],
          msg: 'Password is too common; choose a less guessable one',
          type: 'weak_password',
        },
      ],
      code: 'weak_password',
    })
    const short = await call('PATCH', `/users/${user.id}`, user, {
      password: 'short',
      current_password: user.password,
    })
    expect(short.statusCode).toBe(422)
    expect(short.json().detail[0]).toMatchObject({
      loc: ['body', 'password'],
      type: 'string_too_short',
    })
  })

  it.each([
    ['role', { role: 'admin' }],
    ['is_verified', { is_verified: false }],
    ['is_active', { is_active: true }],
    ['email', { email: 'new-address@example.com' }],
    ['role with an allowed field', { full_name: 'Sneaky', role: 'admin' }],
  ])('is 403 for an admin-only field: %s (privilege escalation)', async (_name, body) => {
    // Verified: an unverified user's own tokens are refused before any field is looked at.
    const user = await makeUser(t, { fullName: 'Kept' })
    const response = await call('PATCH', `/users/${user.id}`, user, body)
    expectError(response, 403, {
      detail: 'Only an admin may change email, role, is_verified or is_active',
      code: 'forbidden',
    })
    const row = await reload(user.id)
    expect(row).toMatchObject({ role: 'user', isVerified: true, email: user.email })
    expect(row?.fullName).toBe('Kept')
  })

  it('is 403 on another user, existing or not (BOLA), and changes nothing', async () => {
    const [ana, bea] = [await makeUser(t), await makeUser(t, { fullName: 'Bea' })]
    expectError(
      await call('PATCH', `/users/${bea.id}`, ana, { full_name: 'Hacked' }),
      403,
      FORBIDDEN,
    )
    expectError(
      await call('PATCH', `/users/${bea.id}`, ana, { password: 'brand new horse staple' }),
      403,
      FORBIDDEN,
    )
    expectError(
      await call('PATCH', `/users/${MISSING_ID}`, ana, { full_name: 'X' }),
      403,
      FORBIDDEN,
    )
    expect((await reload(bea.id))?.fullName).toBe('Bea')
  })

  it.each([
    ['password_hash', { password_hash: 'x' }],
    ['id', { id: MISSING_ID }],
    ['created_at', { created_at: '2020-01-01T00:00:00.000Z' }],
    ['verified_at', { full_name: 'Ana', verified_at: null }],
    ['is_admin', { is_admin: true }],
  ])('rejects the unknown field %s with 422 (mass assignment)', async (field, body) => {
    for (const actor of [await makeUser(t), admin]) {
      const target = actor.role === 'admin' ? await makeUser(t) : actor
      const response = await call('PATCH', `/users/${target.id}`, actor, body)
      expectError(response, 422, {
        detail: [
          { loc: ['body', field], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' },
        ],
        code: 'validation_error',
      })
    }
  })

  it('does not coerce types in the body', async () => {
    const user = await makeUser(t)
    const response = await call('PATCH', `/users/${user.id}`, admin, { is_active: 'false' })
    expect(response.statusCode).toBe(422)
    expect(response.json().detail[0]).toMatchObject({
      loc: ['body', 'is_active'],
      type: 'boolean_type',
    })
    expect((await reload(user.id))?.isActive).toBe(true)
  })
})

describe('PATCH /users/{id} by an admin', () => {
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

describe('DELETE /users/{id}', () => {
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
