import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { PASSWORD, postJson, signup, uniqueEmail, verifiedUser } from '../helpers/auth-flow.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const invalidCredentials = { detail: 'Incorrect email or password', code: 'invalid_credentials' }

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(fields).toString(),
  })

function expectTokenResponse(response: Awaited<ReturnType<typeof form>>, userId: string) {
  expect(response.statusCode).toBe(200)
  expect(response.headers['cache-control']).toBe('no-store')
  expect(response.headers.pragma).toBe('no-cache')
  const body = response.json()
  expect(body).toEqual({
    access_token: expect.any(String),
    refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    token_type: 'bearer',
    expires_in: 900,
  })
  // ES256 by default, naming the key that signed it, which the JWKS publishes.
  const header = decodeProtectedHeader(body.access_token)
  expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) })
  expect(t.services.keyStore.jwks().keys.map((key) => key.kid)).toContain(header.kid)
  const claims = decodeJwt(body.access_token)
  expect(claims).toEqual({
    sub: userId,
    role: 'user',
    sid: expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
    iat: expect.any(Number),
    exp: (claims.iat as number) + 900,
    jti: expect.any(String),
    iss: t.config.jwtIssuer,
    aud: t.config.jwtAudience,
  })
}

describe('logging in with a JSON body', () => {
  it('returns a token pair, not cacheable', async () => {
    const user = await verifiedUser(t)
    const response = await postJson(t, '/auth/login', {
      email: ` ${user.email.toUpperCase()} `,
      password: user.password,
    })
    expectTokenResponse(response, user.id)
  })

  it('gives unknown e-mail and wrong password the same 401', async () => {
    const user = await verifiedUser(t)
    const wrong = await postJson(t, '/auth/login', { email: user.email, password: `${PASSWORD}x` })
    const unknown = await postJson(t, '/auth/login', { email: uniqueEmail(), password: PASSWORD })
    for (const response of [wrong, unknown]) {
      expect(response.statusCode).toBe(401)
      expect(response.json()).toEqual(invalidCredentials)
      expect(response.headers['www-authenticate']).toBe('Bearer')
      expect(response.headers['cache-control']).toBe('no-store')
    }
  })

  it('compares the password exactly: case, and every character past bcrypt’s 72 bytes', async () => {
    const long = `${'ä'.repeat(40)}-tail-one`
    const user = await verifiedUser(t, uniqueEmail(), long)
    for (const attempt of [`${'ä'.repeat(40)}-tail-two`, long.toUpperCase(), long.slice(0, -1)]) {
      const response = await postJson(t, '/auth/login', { email: user.email, password: attempt })
      expect(response.json()).toEqual(invalidCredentials)
    }
    expect(
      (await postJson(t, '/auth/login', { email: user.email, password: long })).statusCode,
    ).toBe(200)
  })

  it('tells an unverified user 403 email_not_verified only with the right password', async () => {
    const email = uniqueEmail()
    await signup(t, email)
    const right = await postJson(t, '/auth/login', { email, password: PASSWORD })
    expect(right.statusCode).toBe(403)
    expect(right.json()).toEqual({ detail: 'Email not verified', code: 'email_not_verified' })
    const wrong = await postJson(t, '/auth/login', { email, password: 'not-the-password' })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json()).toEqual(invalidCredentials)
  })

  it('tells a deactivated user 403 inactive_user only with the right password', async () => {
    const user = await verifiedUser(t)
    await createUsersRepository(t.db).update(user.id, { isActive: false })
    const right = await postJson(t, '/auth/login', { email: user.email, password: user.password })
    expect(right.statusCode).toBe(403)
    expect(right.json()).toEqual({ detail: 'Inactive user', code: 'inactive_user' })
    const wrong = await postJson(t, '/auth/login', {
      email: user.email,
      password: 'wrong-password',
    })
    expect(wrong.json()).toEqual(invalidCredentials)
  })

  it('refuses unknown fields and missing ones: 422', async () => {
    const extra = await postJson(t, '/auth/login', {
      email: uniqueEmail(),
      password: PASSWORD,
      remember: true,
    })
    expect(extra.statusCode).toBe(422)
    expect(extra.json()).toEqual({
      detail: [
        {
          loc: ['body', 'remember'],
          msg: 'Extra inputs are not permitted',
          type: 'extra_forbidden',
        },
      ],
      code: 'validation_error',
    })
    const missing = await postJson(t, '/auth/login', { email: uniqueEmail() })
    expect(missing.statusCode).toBe(422)
    expect(missing.json()).toEqual({
      detail: [{ loc: ['body', 'password'], msg: 'Field required', type: 'missing' }],
      code: 'validation_error',
    })
  })
})

describe('logging in with the OAuth2 password form', () => {
  it('logs in with username and password', async () => {
    const user = await verifiedUser(t)
    expectTokenResponse(await form({ username: user.email, password: user.password }), user.id)
  })

  it('accepts and ignores what Swagger UI sends along: grant_type, scope, client, Basic', async () => {
    const user = await verifiedUser(t)
    const response = await form(
      {
        grant_type: 'password',
        username: user.email,
        password: user.password,
        scope: '',
        client_id: '',
        client_secret: '',
      },
      { authorization: `Basic ${Buffer.from(':').toString('base64')}` },
    )
    expectTokenResponse(response, user.id)
  })

  it('answers a wrong password with the same 401', async () => {
    const user = await verifiedUser(t)
    const response = await form({ username: user.email, password: 'wrong-password' })
    expect(response.statusCode).toBe(401)
    expect(response.json()).toEqual(invalidCredentials)
    expect(response.headers['www-authenticate']).toBe('Bearer')
  })

  it.each([
    [
      'an unknown field',
      { username: 'ana@example.com', password: PASSWORD, remember: '1' },
      'remember',
    ],
    [
      'another grant type',
      { grant_type: 'client_credentials', username: 'ana@example.com', password: PASSWORD },
      'grant_type',
    ],
    ['no username', { password: PASSWORD }, 'username'],
    ['a malformed username', { username: 'Ana <ana@example.com>', password: PASSWORD }, 'username'],
  ])('validates the form strictly: %s is 422', async (_label, fields, field) => {
    const response = await form(fields)
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['body', field] }],
    })
  })

  it('refuses a repeated field: 422', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `username=a%40example.com&username=b%40example.com&password=${PASSWORD}`,
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      code: 'validation_error',
      detail: [{ loc: ['body', 'username'] }],
    })
  })

  it('refuses other content types: 415', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'text/plain' },
      payload: 'username=a&password=b',
    })
    expect(response.statusCode).toBe(415)
    expect(response.json().code).toBe('unsupported_media_type')
  })
})

describe('the auth routes in the OpenAPI document', () => {
  it('documents every /auth route with examples, the form login and the OAuth2 flow', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json()
    const routes = [
      ['/auth/signup', '201'],
      ['/auth/verify', '200'],
      ['/auth/verify/resend', '202'],
      ['/auth/login', '200'],
      ['/auth/refresh', '200'],
      ['/auth/logout', '204'],
      ['/auth/password/forgot', '202'],
      ['/auth/password/reset', '204'],
    ] as const
    for (const [path, status] of routes) {
      const operation = document.paths[`/v1${path}`].post
      expect(operation.tags).toEqual(['auth'])
      expect(operation.summary).toEqual(expect.any(String))
      expect(operation.description).toEqual(expect.any(String))
      expect(operation.responses).toHaveProperty(status)
      expect(operation.responses).toHaveProperty('422')
      expect(JSON.stringify(operation.requestBody)).toContain('example')
    }
    const login = document.paths['/v1/auth/login'].post.requestBody.content
    expect(Object.keys(login).sort()).toEqual([
      'application/json',
      'application/x-www-form-urlencoded',
    ])
    const form = login['application/x-www-form-urlencoded'].schema.$ref.split('/').pop()
    expect(document.components.schemas[form].required).toEqual(['username', 'password'])
    const flows = document.components.securitySchemes.OAuth2PasswordBearer.flows
    expect(flows.password.tokenUrl).toBe('/v1/auth/login')
  })
})
