import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, type MadeUser, makeAdmin, makeUser } from '../helpers/factories.js'
import {
  callAs,
  expectError,
  FORBIDDEN,
  INVALID_TOKEN,
  MISSING_ID,
  NOT_AUTHENTICATED,
  type UsersMethod,
  userJson,
} from '../helpers/users-api.js'

// A user's own account: reading and editing it. What only an admin may do to other
// accounts is in users-admin.test.ts.
let t: TestApp
let admin: MadeUser
beforeAll(async () => {
  t = await createTestApp()
  admin = await makeAdmin(t)
})
afterAll(() => t.close())

const call = (method: UsersMethod, url: string, as: MadeUser | null, payload?: object) =>
  callAs(t, method, url, as, payload)
const reload = async (id: string) => createUsersRepository(t.db).findById(id)

describe('reading one’s own account', () => {
  it('returns the signed-in user, and nothing secret', async () => {
    const user = await makeUser(t, { fullName: 'Ana Lima' })
    const response = await call('GET', '/users/me', user)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual(userJson(user))
    expect(response.body).not.toMatch(/password|hash|verified_at|tokens_valid/)
  })

  it('is 401 with WWW-Authenticate without a token or with a bad one', async () => {
    const none = await call('GET', '/users/me', null)
    expectError(none, 401, NOT_AUTHENTICATED)
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

describe('editing one’s own account', () => {
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
