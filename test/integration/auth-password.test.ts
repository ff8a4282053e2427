import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  codeUnlike,
  invalidCode,
  login,
  otherCode,
  PASSWORD,
  postJson,
  refresh,
  signup,
  uniqueEmail,
  verifiedUser,
} from '../helpers/auth-flow.js'
import { NEW_PASSWORD } from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const accepted = { detail: 'If the account exists, an e-mail is on its way' }

const me = (accessToken: string) =>
  t.app.inject({
    method: 'GET',
    url: '/users/me',
    headers: { authorization: `Bearer ${accessToken}` },
  })

/** Asks for a reset code and reads it from the `nth` message to `email`. */
async function resetCode(email: string, nth: number) {
  const response = await postJson(t, '/auth/password/forgot', { email })
  expect(response.statusCode).toBe(202)
  expect(response.json()).toEqual(accepted)
  const message = await t.inbox.waitForMessage(email, nth)
  expect(message.subject).toBe('Reset your Coffee Shop password')
  return codeFrom(message)
}

const reset = (email: string, code: string, newPassword = NEW_PASSWORD) =>
  postJson(t, '/auth/password/reset', { email, code, new_password: newPassword })

describe('password reset', () => {
  it('sets the new password and logs every device out', async () => {
    // Half-way through a second: a token from this second must still be refused after it.
    t.clock.set(new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000 + 500))
    const user = await verifiedUser(t)
    const before = await login(t, user.email, user.password)
    const code = await resetCode(user.email, 2)

    const response = await reset(user.email.toUpperCase(), code)
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')

    const old = await postJson(t, '/auth/login', { email: user.email, password: PASSWORD })
    expect(old.statusCode).toBe(401)
    expect(old.json()).toEqual({
      detail: 'Incorrect email or password',
      code: 'invalid_credentials',
    })
    const refused = await refresh(t, before.refresh_token)
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toEqual({
      detail: 'Invalid or expired refresh token',
      code: 'invalid_token',
    })
    const stale = await me(before.access_token)
    expect(stale.statusCode).toBe(401)
    expect(stale.headers['www-authenticate']).toBe('Bearer')

    // A login in the same second as the reset gets a token that works.
    const after = await login(t, user.email, NEW_PASSWORD)
    expect((await me(after.access_token)).statusCode).toBe(200)
  })

  it('verifies an account that was never verified (the code proved the address)', async () => {
    const email = uniqueEmail()
    await signup(t, email)
    const code = await resetCode(email, 2)
    expect((await reset(email, code)).statusCode).toBe(204)
    const tokens = await login(t, email, NEW_PASSWORD)
    expect((await me(tokens.access_token)).json()).toMatchObject({ email, is_verified: true })
  })

  it('uses a code once', async () => {
    const user = await verifiedUser(t)
    const code = await resetCode(user.email, 2)
    expect((await reset(user.email, code)).statusCode).toBe(204)
    const again = await reset(user.email, code, 'yet-another-long-passphrase')
    expect(again.statusCode).toBe(400)
    expect(again.json()).toEqual(invalidCode)
  })

  it('refuses a weak new password without spending the code', async () => {
    const user = await verifiedUser(t)
    const code = await resetCode(user.email, 2)
    const weak = await reset(user.email, code, 'password1')
    expect(weak.statusCode).toBe(422)
    expect(weak.json()).toEqual({
      detail: [
        {
          loc: ['body', 'new_password'],
          msg: 'Password is too common; choose a less guessable one',
          type: 'weak_password',
        },
      ],
      code: 'weak_password',
    })
    expect((await reset(user.email, code)).statusCode).toBe(204)
  })

  it('refuses wrong, expired and burned codes, and unknown addresses: 400 invalid_code', async () => {
    const user = await verifiedUser(t)
    const code = await resetCode(user.email, 2)
    const wrong = await reset(user.email, otherCode(code))
    expect(wrong.statusCode).toBe(400)
    expect(wrong.json()).toEqual(invalidCode)
    expect((await reset(uniqueEmail(), code)).json()).toEqual(invalidCode)

    t.clock.advance(t.config.codeTtlMs + 1_000)
    expect((await reset(user.email, code)).json()).toEqual(invalidCode)

    const fresh = await resetCode(user.email, 3)
    for (let i = 0; i < 5; i++) await reset(user.email, otherCode(fresh))
    expect((await reset(user.email, fresh)).json()).toEqual(invalidCode)
    // The password never changed.
    expect(
      (await postJson(t, '/auth/login', { email: user.email, password: PASSWORD })).statusCode,
    ).toBe(200)
  })

  it('does not take a verification code as a reset code', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    const response = await reset(email, code)
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual(invalidCode)
    // And it is still good for what it was sent for.
    expect((await postJson(t, '/auth/verify', { email, code })).statusCode).toBe(200)
  })

  it('validates the body: 422', async () => {
    const response = await postJson(t, '/auth/password/reset', {
      email: uniqueEmail(),
      code: '123456',
      new_password: 'short',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['body', 'new_password'] }],
    })
  })
})

describe('asking for a password reset code', () => {
  it('answers 202 for an unknown address and sends it nothing', async () => {
    const unknown = uniqueEmail('nobody')
    const response = await postJson(t, '/auth/password/forgot', { email: unknown })
    expect(response.statusCode).toBe(202)
    expect(response.json()).toEqual(accepted)
    // A later message that does arrive shows the earlier request had its chance to send.
    const known = await verifiedUser(t)
    await resetCode(known.email, 2)
    expect(t.inbox.messagesTo(unknown)).toHaveLength(0)
  })

  it('replaces the previous reset code', async () => {
    const user = await verifiedUser(t)
    const first = await resetCode(user.email, 2)
    let sent = 2
    const second = await codeUnlike(first, () => resetCode(user.email, ++sent))
    expect((await reset(user.email, first)).json()).toEqual(invalidCode)
    expect((await reset(user.email, second)).statusCode).toBe(204)
  })
})

describe('an account from sign-up to logout', () => {
  it('signup → verify → login (JSON and form) → refresh → reuse detection → logout', async () => {
    const email = uniqueEmail('flow')
    const { code } = await signup(t, email)
    expect((await postJson(t, '/auth/verify', { email, code })).statusCode).toBe(200)

    const json = await login(t, email)
    const form = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ username: email, password: PASSWORD }).toString(),
    })
    expect(form.statusCode).toBe(200)
    expect((await me(form.json().access_token)).json().email).toBe(email)

    const rotated = (await refresh(t, json.refresh_token)).json()
    t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
    expect((await refresh(t, json.refresh_token)).statusCode).toBe(401)
    expect((await refresh(t, rotated.refresh_token)).statusCode).toBe(401)

    const formTokens = form.json()
    expect(
      (await postJson(t, '/auth/logout', { refresh_token: formTokens.refresh_token })).statusCode,
    ).toBe(204)
    expect((await refresh(t, formTokens.refresh_token)).statusCode).toBe(401)
  })
})
