import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { NEW_PASSWORD, PASSWORD, uniqueEmail } from '../helpers/factories.js'
import { expectRateLimited, twoInstancesOnRedis } from '../helpers/limits.js'

let counter = 0
const get = (t: TestApp, url: string, remoteAddress: string) =>
  t.app.inject({ method: 'GET', url, remoteAddress })
const post = (t: TestApp, url: string, payload: Record<string, unknown>, remoteAddress: string) =>
  t.app.inject({ method: 'POST', url, payload, remoteAddress })

interface Operation {
  operationId: string
  security?: unknown[]
  requestBody?: { content: Record<string, { schema: Schema }> }
}
interface Schema {
  $ref?: string
  properties?: Record<string, unknown>
  required?: string[]
}
type Document = {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema> }
}

/** Every property a body may carry, over all its media types, `$ref`s followed. */
function bodyFields(document: Document, operation: Operation): string[] {
  const resolve = (schema: Schema): Schema =>
    schema.$ref
      ? resolve(document.components.schemas[schema.$ref.split('/').pop() ?? ''] ?? {})
      : schema
  return Object.values(operation.requestBody?.content ?? {}).flatMap(({ schema }) =>
    Object.keys(resolve(schema).properties ?? {}),
  )
}

/**
 * A route anyone may call with an account's address in its body either mails that address
 * or checks a secret of that account: sign-up, login, codes, resends, password resets.
 */
const takesAnAccountsAddress = (document: Document, operation: Operation) =>
  operation.security?.length === 0 &&
  bodyFields(document, operation).some((field) => field === 'email' || field === 'username')

/**
 * A signed-in route that mails a new address (with the password that authorises it) or
 * checks a code mailed to one: the e-mail change and its confirmation.
 */
const mailsOrChecksACode = (document: Document, operation: Operation) =>
  operation.security?.length !== 0 &&
  bodyFields(document, operation).some((field) => field === 'new_email' || field === 'code')

/** A route whose body must carry a secret to check: a password, a second factor, its token. */
const checksASecret = (document: Document, operation: Operation) =>
  requiredBodyFields(document, operation).some((field) =>
    ['current_password', 'code', 'mfa_token'].includes(field),
  )

/** The properties every media type of the body requires, `$ref`s followed. */
function requiredBodyFields(document: Document, operation: Operation): string[] {
  const resolve = (schema: Schema): Schema =>
    schema.$ref
      ? resolve(document.components.schemas[schema.$ref.split('/').pop() ?? ''] ?? {})
      : schema
  return Object.values(operation.requestBody?.content ?? {}).flatMap(
    ({ schema }) => resolve(schema).required ?? [],
  )
}

describe('the request limit of every route in the OpenAPI document', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '50', AUTH_RATE_LIMIT_MAX: '2' })
  })
  afterAll(() => t.close())

  it('is AUTH_RATE_LIMIT_MAX on each public route taking an e-mail address and each route checking a password or code, none on the probes', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<Document>()
    const actual: Record<string, unknown> = {}
    const expected: Record<string, unknown> = {}
    const strict: string[] = []
    let client = 0
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const route = `${method.toUpperCase()} ${path}`
        const isStrict =
          takesAnAccountsAddress(document, operation) ||
          mailsOrChecksACode(document, operation) ||
          checksASecret(document, operation)
        if (isStrict) strict.push(operation.operationId)
        expected[route] = path.startsWith('/health/') ? undefined : isStrict ? '2' : '50'
        const response = await t.app.inject({
          method: method.toUpperCase() as 'GET',
          url: path.replace(/\{[^}]+\}/g, '01J00000000000000000000000'),
          ...(operation.requestBody ? { payload: {} } : {}),
          // A client of its own per route: what is measured is the route's budget.
          remoteAddress: `10.20.${Math.floor(++client / 250)}.${client % 250}`,
        })
        actual[route] = response.headers['x-ratelimit-limit']
      }
    }
    expect(actual).toEqual(expected)
    // The rule above picks the routes it is meant for, so it cannot pass by matching none.
    expect(strict).toEqual(
      expect.arrayContaining([
        'signup',
        'login',
        'verifyEmail',
        'resendCode',
        'forgotPassword',
        'resetPassword',
        'requestEmailChange',
        'confirmEmailChange',
        'startTotpEnrolment',
        'confirmTotpEnrolment',
        'disableMfa',
        'regenerateRecoveryCodes',
        'verifyMfa',
      ]),
    )
    expect(actual['POST /v1/auth/refresh']).toBe('50')
    expect(Object.keys(actual).length).toBeGreaterThan(15)
  })
})

const INVALID_CODE = { detail: 'Invalid or expired code', code: 'invalid_code' }
const verifyBody = () => ({ email: uniqueEmail(), code: '123456' })
const resetBody = () => ({ email: uniqueEmail(), code: '123456', new_password: NEW_PASSWORD })

describe('stricter limits on signup, login, verify, resend, forgot and reset', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '100', AUTH_RATE_LIMIT_MAX: '2' })
  })
  afterAll(() => t.close())

  it.each([
    ['/auth/password/forgot', () => ({ email: uniqueEmail() }), 202],
    ['/auth/verify/resend', () => ({ email: uniqueEmail() }), 202],
    ['/auth/signup', () => ({ email: uniqueEmail(), password: PASSWORD }), 201],
    ['/auth/login', () => ({ email: uniqueEmail(), password: PASSWORD }), 401],
    ['/auth/verify', verifyBody, 400],
    ['/auth/password/reset', resetBody, 400],
  ])('%s allows AUTH_RATE_LIMIT_MAX per window and client', async (url, body, status) => {
    const client = `10.1.0.${++counter}`
    expect((await post(t, url, body(), client)).statusCode).toBe(status)
    expect((await post(t, url, body(), client)).statusCode).toBe(status)
    expectRateLimited(await post(t, url, body(), client), 60)
    // The other routes keep their own budget; another client has its own.
    expect((await get(t, '/openapi.json', client)).statusCode).toBe(200)
    expect((await post(t, url, body(), `10.2.0.${counter}`)).statusCode).toBe(status)
    t.clock.advance(60_000)
    expect((await post(t, url, body(), client)).statusCode).toBe(status)
  })
})

describe('code guessing against the strict limit', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '100', AUTH_RATE_LIMIT_MAX: '3' })
  })
  afterAll(() => t.close())

  it.each([
    ['/auth/verify', (email: string, code: string) => ({ email, code })],
    ['/auth/password/reset', (email: string, code: string) => ({ ...resetBody(), email, code })],
  ])('%s: a client gets AUTH_RATE_LIMIT_MAX guesses per window', async (url, body) => {
    const client = `10.4.0.${++counter}`
    const email = uniqueEmail()
    for (let code = 0; code < 3; code++) {
      const guess = await post(t, url, body(email, String(code).padStart(6, '0')), client)
      expect(guess.statusCode).toBe(400)
      expect(guess.json()).toEqual(INVALID_CODE)
    }
    expectRateLimited(await post(t, url, body(email, '000003'), client), 60)
  })
})

describe('with Redis, the strict limit on verify and reset is shared', () => {
  const on = twoInstancesOnRedis({
    RATE_LIMIT_MAX: '100',
    AUTH_RATE_LIMIT_MAX: '2',
  })

  it.each([
    ['/auth/verify', verifyBody],
    ['/auth/password/reset', resetBody],
  ])('%s counts across instances', async (url, body) => {
    const client = `10.5.0.${++counter}`
    expect((await post(on.a, url, body(), client)).statusCode).toBe(400)
    expect((await post(on.b, url, body(), client)).statusCode).toBe(400)
    expectRateLimited(await post(on.a, url, body(), client), 60)
    expectRateLimited(await post(on.b, url, body(), client), 60)
  })
})
