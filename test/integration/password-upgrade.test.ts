import bcrypt from 'bcrypt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword, verifyPassword } from '../../src/core/security.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { postJson } from '../helpers/auth-flow.js'
import { makeUser } from '../helpers/factories.js'

/** Users are made at cost 4 (the factories'); the app is configured one above. */
let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ BCRYPT_ROUNDS: '5' })
})
afterAll(() => t.close())

const storedHash = async (id: string) =>
  (await createUsersRepository(t.db).findById(id))?.passwordHash as string
const login = (email: string, password: string) => postJson(t, '/auth/login', { email, password })
const me = (accessToken: string) =>
  t.app.inject({ url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })

describe('a password hash of a lower cost than BCRYPT_ROUNDS', () => {
  it('is re-hashed at the configured cost by a successful login; the password still works', async () => {
    const user = await makeUser(t)
    expect(bcrypt.getRounds(user.passwordHash)).toBe(4)

    const first = await login(user.email, user.password)
    expect(first.statusCode).toBe(200)
    const upgraded = await storedHash(user.id)
    expect(bcrypt.getRounds(upgraded)).toBe(5)
    expect(await verifyPassword(user.password, upgraded)).toBe(true)

    expect((await login(user.email, user.password)).statusCode).toBe(200)
    // Not a password change: tokens issued before the upgrade stay valid.
    expect((await me(first.json().access_token)).statusCode).toBe(200)
  })

  it('is left alone by a failed login', async () => {
    const user = await makeUser(t)
    for (let i = 0; i < 3; i++) {
      expect((await login(user.email, `${user.password}!`)).statusCode).toBe(401)
    }
    expect(await storedHash(user.id)).toBe(user.passwordHash)
  })

  it('survives concurrent logins: every one succeeds and one upgraded hash remains', async () => {
    const user = await makeUser(t)
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => login(user.email, user.password)),
    )
    expect(responses.map((response) => response.statusCode)).toEqual(Array(6).fill(200))
    const upgraded = await storedHash(user.id)
    expect(bcrypt.getRounds(upgraded)).toBe(5)
    expect((await login(user.email, user.password)).statusCode).toBe(200)
  })

  it('is not applied to a hash of the configured cost or more (no downgrade)', async () => {
    const passwordHash = await hashPassword('a stronger stored hash', 6)
    const user = await makeUser(t, { password: 'a stronger stored hash', passwordHash })
    expect((await login(user.email, user.password)).statusCode).toBe(200)
    expect(await storedHash(user.id)).toBe(passwordHash)
  })
})
