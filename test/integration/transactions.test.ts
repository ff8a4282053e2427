import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unthrottled } from '../../src/core/login-throttle.js'
import type { Mailer } from '../../src/mailer.js'
import { createRepositories, type Repositories } from '../../src/repositories/index.js'
import { createKeyServices, createServices } from '../../src/services/index.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  login,
  PASSWORD,
  postJson,
  refresh,
  uniqueEmail,
  verifiedUser,
} from '../helpers/auth-flow.js'
import { makeUser, NEW_PASSWORD } from '../helpers/factories.js'
import { failingInTransaction } from '../helpers/failing-repositories.js'
import { codeFrom } from '../helpers/smtp.js'

// A use case that writes several rows does so in one transaction: when a write fails
// halfway, the ones before it are rolled back. Each test wires the services with
// repositories of which one method fails inside the transaction, after a first write, then
// checks in the database and through the app that nothing of that write remains.

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

/** These tests fail before any e-mail would go out. */
const noMail: Mailer = {
  send: async () => {},
  dispatch: () => {},
  close: async () => {},
}

/** The app's services over the app's database, wired with `repositories`. */
const servicesOver = (repositories: Repositories) =>
  createServices({
    config: t.config,
    database: t.database,
    mailer: noMail,
    clock: t.clock,
    repositories,
  })

const real = () => createRepositories(t.db)

describe('a failure inside a transaction leaves nothing half-done', () => {
  it('signup: the account inserted before its code failed is rolled back', async () => {
    const email = uniqueEmail()
    const injected = failingInTransaction(real(), 'oneTimeCodes', 'issueWithinQuota')
    const { auth } = servicesOver(injected.repositories)
    await expect(auth.signup({ email, password: PASSWORD })).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(1)

    expect(await real().users.findByEmail(email)).toBeUndefined()
    const again = await postJson(t, '/auth/signup', { email, password: PASSWORD })
    expect(again.statusCode).toBe(201)
  })

  it('password reset: code, password and sessions stay as they were', async () => {
    const user = await verifiedUser(t)
    const session = await login(t, user.email, user.password)
    expect((await postJson(t, '/auth/password/forgot', { email: user.email })).statusCode).toBe(202)
    const code = codeFrom(await t.inbox.waitForMessage(user.email, 2))
    const newPassword = NEW_PASSWORD

    // The code is used up and the password set; revoking the sessions fails.
    const injected = failingInTransaction(real(), 'sessions', 'end')
    const { auth } = servicesOver(injected.repositories)
    const resetting = auth.resetPassword({ email: user.email, code, newPassword })
    await expect(resetting).rejects.toBe(injected.failure)

    expect((await refresh(t, session.refresh_token)).statusCode).toBe(200)
    const withNew = await postJson(t, '/auth/login', { email: user.email, password: newPassword })
    expect(withNew.statusCode).toBe(401)
    await login(t, user.email, user.password)
    // The code was not used up: the real app accepts it.
    const reset = await postJson(t, '/auth/password/reset', {
      email: user.email,
      code,
      new_password: newPassword,
    })
    expect(reset.statusCode).toBe(204)
  })

  it('PATCH: a deactivation whose session revocation failed is rolled back', async () => {
    const admin = await makeUser(t, { role: 'admin' })
    const user = await makeUser(t)
    const injected = failingInTransaction(real(), 'sessions', 'end')
    const { users } = servicesOver(injected.repositories)
    const patching = users.updateUser(admin, user.id, { isActive: false }, unthrottled)
    await expect(patching).rejects.toBe(injected.failure)

    const row = await real().users.findById(user.id)
    expect(row).toMatchObject({ isActive: true, tokensValidAfter: user.tokensValidAfter })
  })

  it('create-admin: the second promotion fails at its revocation, the first stays', async () => {
    const first = await makeUser(t, { isVerified: false, verifiedAt: null })
    const second = await makeUser(t, { isVerified: false, verifiedAt: null })
    const injected = failingInTransaction(real(), 'sessions', 'end', 2)
    const { users } = servicesOver(injected.repositories)
    await users.createOrPromoteAdmin(first.email, PASSWORD)
    const promoting = users.createOrPromoteAdmin(second.email, PASSWORD)
    await expect(promoting).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(2)

    const rows = real().users
    expect(await rows.findById(first.id)).toMatchObject({ role: 'admin', isVerified: true })
    expect(await rows.findById(second.id)).toMatchObject({ role: 'user', isVerified: false })
  })

  it('rotation: the keys retired and promoted before the new key failed stay as they were', async () => {
    const states = async () =>
      (await real().signingKeys.list()).map(({ kid, state }) => ({ kid, state }))
    const before = await states()
    expect(before.map(({ state }) => state).sort()).toEqual(['current', 'next'])
    // The second update promotes the next key, after the first retired the current one.
    const injected = failingInTransaction(real(), 'signingKeys', 'update', 2)
    const { signingKeys } = createKeyServices({
      config: t.config,
      database: t.database,
      clock: t.clock,
      repositories: injected.repositories,
    })
    await expect(signingKeys.rotate()).rejects.toBe(injected.failure)
    expect(await states()).toEqual(before)
  })
})
