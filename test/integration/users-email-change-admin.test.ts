import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { invalidCode, postJson, signup } from '../helpers/auth-flow.js'
import {
  emailChangeFlows,
  nextAddress,
  WRONG_CURRENT_PASSWORD,
  WRONG_PASSWORD,
} from '../helpers/email-change.js'
import {
  authHeaders,
  type MadeUser,
  makeAdmin,
  makeUser,
  NEW_PASSWORD,
  uniqueEmail,
} from '../helpers/factories.js'
import { expectRateLimited, loginFrom } from '../helpers/limits.js'
import { codeFrom } from '../helpers/smtp.js'

// An admin's change of a user's address through PATCH, which voids what was pending for
// the old one, and the current-password guard the change shares with PATCH /users/{id}.
// Changing one's own address is in users-email-change.test.ts.

describe('an admin changing a user’s e-mail through PATCH', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())
  const { confirm, codeFor } = emailChangeFlows(() => t)
  const patchEmail = async (admin: MadeUser, user: { id: string }, email: string) => {
    const response = await t.app.inject({
      method: 'PATCH',
      url: `/users/${user.id}`,
      headers: await authHeaders(t, admin),
      payload: { email },
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ email })
  }

  it('voids their pending verification code', async () => {
    const admin = await makeAdmin(t)
    const oldEmail = uniqueEmail('unverified')
    const { id, code } = await signup(t, oldEmail)
    const newEmail = uniqueEmail('set-by-admin')
    await patchEmail(admin, { id }, newEmail)
    expect((await postJson(t, '/auth/verify', { email: newEmail, code })).json()).toEqual(
      invalidCode,
    )
  })

  it('voids their pending reset code and e-mail change', async () => {
    const admin = await makeAdmin(t)
    const user = await makeUser(t)
    expect((await postJson(t, '/auth/password/forgot', { email: user.email })).statusCode).toBe(202)
    const resetCode = codeFrom(await t.inbox.waitForMessage(user.email))
    const changeCode = await codeFor(user, uniqueEmail('pending'))
    const newEmail = uniqueEmail('set-by-admin')
    await patchEmail(admin, user, newEmail)

    const reset = await postJson(t, '/auth/password/reset', {
      email: newEmail,
      code: resetCode,
      new_password: NEW_PASSWORD,
    })
    expect(reset.json()).toEqual(invalidCode)
    expect((await confirm(user, changeCode)).json()).toEqual(invalidCode)
    // New codes, sent to the new address, work.
    expect((await postJson(t, '/auth/password/forgot', { email: newEmail })).statusCode).toBe(202)
    const fresh = codeFrom(await t.inbox.waitForMessage(newEmail))
    const accepted = await postJson(t, '/auth/password/reset', {
      email: newEmail,
      code: fresh,
      new_password: NEW_PASSWORD,
    })
    expect(accepted.statusCode).toBe(204)
  })

  it('keeps the codes when the address does not change', async () => {
    const admin = await makeAdmin(t)
    const user = await makeUser(t)
    expect((await postJson(t, '/auth/password/forgot', { email: user.email })).statusCode).toBe(202)
    const resetCode = codeFrom(await t.inbox.waitForMessage(user.email))
    await patchEmail(admin, user, user.email)
    const reset = await postJson(t, '/auth/password/reset', {
      email: user.email,
      code: resetCode,
      new_password: NEW_PASSWORD,
    })
    expect(reset.statusCode).toBe(204)
  })
})

describe('a wrong current_password on the e-mail change', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ LOGIN_MAX_FAILURES: '3', LOGIN_ACCOUNT_MAX_FAILURES: '8' })
  })
  afterAll(() => t.close())
  const { requestChange } = emailChangeFlows(() => t)

  it('counts as a failed login of the account', async () => {
    const user = await makeUser(t)
    const from = nextAddress()
    for (let i = 0; i < 3; i++) {
      const response = await requestChange(user, uniqueEmail(), WRONG_PASSWORD, from)
      expect(response.statusCode).toBe(422)
      expect(response.json()).toEqual(WRONG_CURRENT_PASSWORD)
    }
    expectRateLimited(await loginFrom(t, from, user.email, user.password), 900)
    // Guessing through this route is throttled as well, even with the right password.
    expectRateLimited(await requestChange(user, uniqueEmail(), user.password, from), 900)
    expect((await loginFrom(t, nextAddress(), user.email, user.password)).statusCode).toBe(200)
  })

  it('is 422 invalid_credentials on PATCH /users/{id} too, an admin’s included', async () => {
    const admin = await makeAdmin(t)
    const user = await makeUser(t)
    for (const [actor, target] of [
      [user, user],
      [admin, user],
    ] as const) {
      const response = await t.app.inject({
        method: 'PATCH',
        url: `/users/${target.id}`,
        headers: await authHeaders(t, actor),
        payload: { password: NEW_PASSWORD, current_password: WRONG_PASSWORD },
        remoteAddress: nextAddress(),
      })
      expect(response.statusCode).toBe(422)
      expect(response.json()).toEqual(WRONG_CURRENT_PASSWORD)
    }
  })
})
