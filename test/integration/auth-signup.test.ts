import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  invalidCode,
  otherCode,
  PASSWORD,
  postJson,
  signup,
  uniqueEmail,
} from '../helpers/auth-flow.js'
import { codeFrom } from '../helpers/smtp.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/** Six digits other than `code`. */

describe('signing up', () => {
  it('creates an unverified user, normalises the e-mail and mails a code over SMTP', async () => {
    const email = uniqueEmail('ana')
    const response = await postJson(t, '/auth/signup', {
      email: `  ${email.toUpperCase()} `,
      password: PASSWORD,
      full_name: 'Ana Lima',
    })
    expect(response.statusCode).toBe(201)
    const body = response.json()
    expect(body).toEqual({
      id: expect.stringMatching(ULID),
      email,
      full_name: 'Ana Lima',
      role: 'user',
      is_verified: false,
      is_active: true,
      mfa_enabled: false,
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
    })
    const message = await t.inbox.waitForMessage(email)
    expect(message.subject).toBe('Verify your Coffee Shop account')
    const code = codeFrom(message)
    expect(code).toMatch(/^\d{6}$/)
    expect(message.html).toContain(code)
    expect(response.body).not.toContain(code)
  })

  it('defaults full_name to null', async () => {
    const response = await postJson(t, '/auth/signup', { email: uniqueEmail(), password: PASSWORD })
    expect(response.statusCode).toBe(201)
    expect(response.json().full_name).toBeNull()
  })

  it('refuses an address already registered, in any case: 409 email_taken', async () => {
    const email = uniqueEmail()
    await signup(t, email)
    const again = await postJson(t, '/auth/signup', {
      email: ` ${email.toUpperCase()}`,
      password: 'another-long-passphrase',
    })
    expect(again.statusCode).toBe(409)
    expect(again.json()).toEqual({ detail: 'Email already registered', code: 'email_taken' })
  })

  it('refuses a common password: 422 weak_password', async () => {
    const response = await postJson(t, '/auth/signup', {
      email: uniqueEmail(),
      password: 'Password123',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [
        {
          loc: ['body', 'password'],
          msg: 'Password is too common; choose a less guessable one',
          type: 'weak_password',
        },
      ],
      code: 'weak_password',
    })
  })

  it.each([
    ['too short', 'short7!'],
    ['too long', 'x'.repeat(129)],
  ])('refuses a password %s: 422', async (_label, password) => {
    const response = await postJson(t, '/auth/signup', { email: uniqueEmail(), password })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['body', 'password'] }],
    })
  })

  it('accepts 8 characters of any script (length counts characters, not bytes)', async () => {
    const response = await postJson(t, '/auth/signup', {
      email: uniqueEmail(),
      password: '珈琲豆焙煎抽出器',
    })
    expect(response.statusCode).toBe(201)
  })

  it.each([
    ['a display name', 'Ana <ana@example.com>'],
    ['a comma list', 'ana@example.com, bob@example.com'],
    ['a CR/LF header injection', 'ana@example.com\r\nBcc: eve@example.com'],
    ['a trailing newline', 'ana@example.com\n'],
    ['no domain', 'ana@'],
    ['no at sign', 'ana.example.com'],
    ['a quoted local part', '"ana lima"@example.com'],
  ])('refuses an e-mail with %s: 422', async (_label, email) => {
    const response = await postJson(t, '/auth/signup', { email, password: PASSWORD })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [{ loc: ['body', 'email'], msg: expect.any(String), type: expect.any(String) }],
      code: 'validation_error',
    })
  })

  it('refuses unknown fields instead of ignoring them: 422', async () => {
    const response = await postJson(t, '/auth/signup', {
      email: uniqueEmail(),
      password: PASSWORD,
      role: 'admin',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [
        { loc: ['body', 'role'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' },
      ],
      code: 'validation_error',
    })
  })

  it('does not accept a form body (only /auth/login does): 415', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/signup',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `email=${encodeURIComponent(uniqueEmail())}&password=${PASSWORD}`,
    })
    expect(response.statusCode).toBe(415)
    expect(response.json().code).toBe('unsupported_media_type')
  })

  it('50 concurrent signups with one address: exactly one 201, the rest 409', async () => {
    const email = uniqueEmail('race')
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => postJson(t, '/auth/signup', { email, password: PASSWORD })),
    )
    const statuses = responses.map((response) => response.statusCode)
    expect(statuses.filter((status) => status === 201)).toHaveLength(1)
    expect(statuses.filter((status) => status === 409)).toHaveLength(49)
    for (const response of responses.filter((r) => r.statusCode === 409)) {
      expect(response.json()).toEqual({ detail: 'Email already registered', code: 'email_taken' })
    }
  })

  it('keeps the account when the e-mail cannot be sent', async () => {
    // Port 9 (discard) on loopback: nothing listens, so delivery fails.
    const broken = await createTestApp({ SMTP_URL: 'smtp://127.0.0.1:9' })
    try {
      const email = uniqueEmail()
      const created = await postJson(broken, '/auth/signup', { email, password: PASSWORD })
      expect(created.statusCode).toBe(201)
      const login = await postJson(broken, '/auth/login', { email, password: PASSWORD })
      expect(login.statusCode).toBe(403)
      expect(login.json()).toEqual({ detail: 'Email not verified', code: 'email_not_verified' })
      const resend = await postJson(broken, '/auth/verify/resend', { email })
      expect(resend.statusCode).toBe(202)
    } finally {
      await broken.close()
    }
  })
})

describe('verifying an e-mail address with its code', () => {
  it('verifies with the mailed code, then answers 409 already_verified', async () => {
    const email = uniqueEmail()
    const { id, code } = await signup(t, email)
    const response = await postJson(t, '/auth/verify', { email: email.toUpperCase(), code })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ id, email, is_verified: true })
    const again = await postJson(t, '/auth/verify', { email, code })
    expect(again.statusCode).toBe(409)
    expect(again.json()).toEqual({ detail: 'Email already verified', code: 'already_verified' })
  })

  it('refuses a wrong code: 400 invalid_code, and the right one still works', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    const wrong = await postJson(t, '/auth/verify', { email, code: otherCode(code) })
    expect(wrong.statusCode).toBe(400)
    expect(wrong.json()).toEqual(invalidCode)
    expect((await postJson(t, '/auth/verify', { email, code })).statusCode).toBe(200)
  })

  it('burns the code after 5 wrong tries, even for the right code afterwards', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    for (let i = 0; i < 5; i++) {
      const wrong = await postJson(t, '/auth/verify', { email, code: otherCode(code) })
      expect(wrong.json()).toEqual(invalidCode)
    }
    const right = await postJson(t, '/auth/verify', { email, code })
    expect(right.statusCode).toBe(400)
    expect(right.json()).toEqual(invalidCode)
  })

  it('accepts the right code on the 5th try', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    for (let i = 0; i < 4; i++) {
      expect((await postJson(t, '/auth/verify', { email, code: otherCode(code) })).statusCode).toBe(
        400,
      )
    }
    expect((await postJson(t, '/auth/verify', { email, code })).statusCode).toBe(200)
  })

  it('counts parallel wrong guesses atomically: 20 at once burn the code', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    const guesses = await Promise.all(
      Array.from({ length: 20 }, () =>
        postJson(t, '/auth/verify', { email, code: otherCode(code) }),
      ),
    )
    expect(guesses.every((guess) => guess.statusCode === 400)).toBe(true)
    expect((await postJson(t, '/auth/verify', { email, code })).json()).toEqual(invalidCode)
  })

  it('refuses an expired code', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    t.clock.advance(t.config.codeTtlMs + 1_000)
    const response = await postJson(t, '/auth/verify', { email, code })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual(invalidCode)
  })

  it('answers an unknown address like a wrong code (no enumeration)', async () => {
    const response = await postJson(t, '/auth/verify', { email: uniqueEmail(), code: '123456' })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual(invalidCode)
  })

  it.each(['12345', '1234567', 'abcdef', 123456])(
    'refuses a malformed code %j: 422',
    async (code) => {
      const response = await postJson(t, '/auth/verify', { email: uniqueEmail(), code })
      expect(response.statusCode).toBe(422)
      expect(response.json()).toMatchObject({
        code: 'validation_error',
        detail: [{ loc: ['body', 'code'] }],
      })
    },
  )
})
