import { count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unthrottled } from '../../src/core/login-throttle.js'
import { auditEvents } from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { createKeyServices } from '../../src/services/index.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { auditProbe } from '../helpers/audit.js'
import {
  login,
  PASSWORD,
  postJson,
  refresh,
  uniqueEmail,
  verifiedUser,
} from '../helpers/auth-flow.js'
import { makeAdmin, makeUser, NEW_PASSWORD } from '../helpers/factories.js'
import { failingInTransaction, servicesOver } from '../helpers/failing-repositories.js'
import { codeFrom } from '../helpers/smtp.js'

// A use case that writes several rows does so in one transaction: when a write fails
// halfway, the ones before it are rolled back. Each test wires the services with
// repositories of which one method fails inside the transaction, after a first write, then
// checks in the database and through the app that nothing of that write remains, nor the
// audit event written with it.

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const { send, eventsOf } = auditProbe(() => t)

const real = () => createRepositories(t.db)

describe('a failure inside a transaction leaves nothing half-done', () => {
  it('signup: the account inserted before its code failed is rolled back', async () => {
    const email = uniqueEmail()
    const injected = failingInTransaction(real(), 'oneTimeCodes', 'issueWithinQuota')
    const { auth } = servicesOver(t, injected.repositories)
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
    const { auth } = servicesOver(t, injected.repositories)
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
    const { users } = servicesOver(t, injected.repositories)
    const patching = users.updateUser(admin, user.id, { isActive: false }, unthrottled)
    await expect(patching).rejects.toBe(injected.failure)

    const row = await real().users.findById(user.id)
    expect(row).toMatchObject({ isActive: true, tokensValidAfter: user.tokensValidAfter })
  })

  it('create-admin: the second promotion fails at its revocation, the first stays', async () => {
    const first = await makeUser(t, { isVerified: false, verifiedAt: null })
    const second = await makeUser(t, { isVerified: false, verifiedAt: null })
    const injected = failingInTransaction(real(), 'sessions', 'end', 2)
    const { users } = servicesOver(t, injected.repositories)
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

describe('an audit event and its change commit together', () => {
  const failingAfterEvent = () =>
    failingInTransaction(createRepositories(t.db), 'auditEvents', 'insert', 1, { after: true })

  it('a sign-up that fails after its event was written leaves neither', async () => {
    const signUps = async () => {
      const [row] = await t.db
        .select({ n: count() })
        .from(auditEvents)
        .where(eq(auditEvents.type, 'user.signed_up'))
      return row?.n
    }
    const before = await signUps()
    const email = uniqueEmail()
    const injected = failingAfterEvent()
    const { auth } = servicesOver(t, injected.repositories)
    await expect(auth.signup({ email, password: PASSWORD })).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(1)
    expect(await createRepositories(t.db).users.findByEmail(email)).toBeUndefined()
    expect(await signUps()).toBe(before)
  })

  it('a deletion that fails after its event was written keeps the user and has no event', async () => {
    const user = await makeUser(t)
    const injected = failingAfterEvent()
    const { users } = servicesOver(t, injected.repositories)
    await expect(users.deleteUser(user.id)).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(1)
    expect(await createRepositories(t.db).users.findById(user.id)).toBeDefined()
    expect(await eventsOf('user.deleted', user.id)).toEqual([])
  })

  it('a password change that fails after its events keeps the old password and no event', async () => {
    const user = await makeUser(t)
    // The second event (password.changed) is written, then the transaction fails.
    const injected = failingInTransaction(createRepositories(t.db), 'auditEvents', 'insert', 2, {
      after: true,
    })
    const { users } = servicesOver(t, injected.repositories)
    const patch = { fullName: 'New Name', password: 'macchiato-new-pass-3' }
    await expect(users.updateUser(await makeAdmin(t), user.id, patch, unthrottled)).rejects.toBe(
      injected.failure,
    )
    expect(injected.calls()).toBe(2)
    expect(await eventsOf('user.updated', user.id)).toEqual([])
    expect(await eventsOf('password.changed', user.id)).toEqual([])
    const login = await send('POST', '/auth/login', { email: user.email, password: user.password })
    expect(login.response.statusCode).toBe(200)
  })
})
