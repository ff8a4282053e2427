import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { PASSWORD, uniqueEmail } from '../helpers/factories.js'
import { expectRateLimited, INVALID_CREDENTIALS, twoInstancesOnRedis } from '../helpers/limits.js'
import { freePort } from '../helpers/process.js'
import { codeFrom } from '../helpers/smtp.js'

const get = (t: TestApp, url: string, remoteAddress = '127.0.0.1', headers = {}) =>
  t.app.inject({ method: 'GET', url, remoteAddress, headers })
const post = (t: TestApp, url: string, payload: Record<string, unknown>, remoteAddress?: string) =>
  t.app.inject({ method: 'POST', url, payload, remoteAddress: remoteAddress ?? '127.0.0.1' })
const login = (t: TestApp, email: string, password: string, remoteAddress?: string) =>
  post(t, '/auth/login', { email, password }, remoteAddress)

async function verifiedUser(t: TestApp) {
  const email = uniqueEmail()
  expect((await post(t, '/auth/signup', { email, password: PASSWORD })).statusCode).toBe(201)
  const code = codeFrom(await t.inbox.waitForMessage(email, 1))
  expect((await post(t, '/auth/verify', { email, code })).statusCode).toBe(200)
  return email
}

describe('per-client request limit', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' })
  })
  afterAll(() => t.close())

  it('answers 429 with Retry-After past the limit, and resets after the window', async () => {
    for (let i = 3; i >= 1; i--) {
      const response = await get(t, '/openapi.json', '10.0.0.1')
      expect(response.statusCode).toBe(200)
      expect(response.headers['x-ratelimit-limit']).toBe('3')
      expect(response.headers['x-ratelimit-remaining']).toBe(String(i - 1))
    }
    expectRateLimited(await get(t, '/openapi.json', '10.0.0.1'), 60)
    // Any route counts: the limit is per client, not per route.
    expectRateLimited(await get(t, '/users/me', '10.0.0.1'), 60)

    t.clock.advance(30_000)
    expectRateLimited(await get(t, '/openapi.json', '10.0.0.1'), 30)
    t.clock.advance(30_000)
    expect((await get(t, '/openapi.json', '10.0.0.1')).statusCode).toBe(200)
  })

  it('counts each client separately', async () => {
    for (let i = 0; i < 3; i++) await get(t, '/openapi.json', '10.0.0.2')
    expectRateLimited(await get(t, '/openapi.json', '10.0.0.2'), 60)
    expect((await get(t, '/openapi.json', '10.0.0.3')).statusCode).toBe(200)
  })

  it('ignores X-Forwarded-For unless TRUST_PROXY says otherwise', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await get(t, '/openapi.json', '10.0.0.4', {
        'x-forwarded-for': `192.0.2.${i}`,
      })
      expect(response.statusCode).toBe(200)
    }
    const spoofed = await get(t, '/openapi.json', '10.0.0.4', { 'x-forwarded-for': '192.0.2.99' })
    expectRateLimited(spoofed, 60)
  })

  it('never limits the health probes', async () => {
    for (let i = 0; i < 3; i++) await get(t, '/openapi.json', '10.0.0.5')
    for (let i = 0; i < 10; i++) {
      expect((await get(t, '/health/live', '10.0.0.5')).statusCode).toBe(200)
      expect((await get(t, '/health/ready', '10.0.0.5')).statusCode).toBe(200)
    }
  })
})

describe('behind a trusted proxy', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '2', TRUST_PROXY: '127.0.0.1' })
  })
  afterAll(() => t.close())

  it('limits the client named by X-Forwarded-For', async () => {
    const from = (client: string) =>
      get(t, '/openapi.json', '127.0.0.1', { 'x-forwarded-for': client })
    expect((await from('198.51.100.1')).statusCode).toBe(200)
    expect((await from('198.51.100.1')).statusCode).toBe(200)
    expectRateLimited(await from('198.51.100.1'), 60)
    expect((await from('198.51.100.2')).statusCode).toBe(200)
  })
})

describe('RATE_LIMIT_MAX=0', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '0', LOGIN_MAX_FAILURES: '0' })
  })
  afterAll(() => t.close())

  it('turns request limits off', async () => {
    for (let i = 0; i < 15; i++) {
      const response = await post(t, '/auth/password/forgot', { email: uniqueEmail() })
      expect(response.statusCode).toBe(202)
      expect(response.headers).not.toHaveProperty('x-ratelimit-limit')
    }
  })
})

describe('login throttling', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '0', LOGIN_MAX_FAILURES: '3' })
  })
  afterAll(() => t.close())

  it('answers 429 after LOGIN_MAX_FAILURES failures for one e-mail and client, for 15 min', async () => {
    const email = await verifiedUser(t)
    for (let i = 0; i < 3; i++) {
      const response = await login(t, email, 'wrong-password-123')
      expect(response.statusCode).toBe(401)
      expect(response.json()).toEqual(INVALID_CREDENTIALS)
    }
    // Even the right password: the attacker must not learn it is right.
    const retryAfter = expectRateLimited(await login(t, email, PASSWORD), 900)
    expect(retryAfter).toBeGreaterThan(800)
    // The form login (OAuth2 password flow) is the same e-mail, differently spelled.
    const form = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: `username=${encodeURIComponent(` ${email.toUpperCase()} `)}&password=${PASSWORD}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expectRateLimited(form, 900)
    // Another client, or another e-mail from this client, is not affected.
    expect((await login(t, email, PASSWORD, '10.9.0.1')).statusCode).toBe(200)
    expect((await login(t, uniqueEmail(), PASSWORD)).statusCode).toBe(401)

    t.clock.advance(15 * 60_000)
    expect((await login(t, email, PASSWORD)).statusCode).toBe(200)
  })

  it('counts only wrong credentials, and a success starts the count again', async () => {
    const email = await verifiedUser(t)
    await login(t, email, 'wrong-password-123')
    await login(t, email, 'wrong-password-123')
    expect((await login(t, email, PASSWORD)).statusCode).toBe(200)
    await login(t, email, 'wrong-password-123')
    await login(t, email, 'wrong-password-123')
    expect((await login(t, email, 'wrong-password-123')).statusCode).toBe(401)
    expectRateLimited(await login(t, email, 'wrong-password-123'), 900)
  })

  it('throttles unknown e-mails the same way (no enumeration)', async () => {
    const email = uniqueEmail()
    for (let i = 0; i < 3; i++) expect((await login(t, email, PASSWORD)).statusCode).toBe(401)
    expectRateLimited(await login(t, email, PASSWORD), 900)
  })
})

describe('with Redis, several instances share one limit', () => {
  const on = twoInstancesOnRedis({
    RATE_LIMIT_MAX: '4',
    LOGIN_MAX_FAILURES: '2',
  })

  it('enforces one combined request limit', async () => {
    expect((await get(on.a, '/openapi.json', '10.3.0.1')).statusCode).toBe(200)
    expect((await get(on.b, '/openapi.json', '10.3.0.1')).statusCode).toBe(200)
    expect((await get(on.a, '/openapi.json', '10.3.0.1')).statusCode).toBe(200)
    const last = await get(on.b, '/openapi.json', '10.3.0.1')
    expect(last.statusCode).toBe(200)
    expect(last.headers['x-ratelimit-remaining']).toBe('0')
    expectRateLimited(await get(on.a, '/openapi.json', '10.3.0.1'), 60)
    expectRateLimited(await get(on.b, '/openapi.json', '10.3.0.1'), 60)
    expect(await on.redis.keys(`${on.prefix}rl:*`)).not.toHaveLength(0)
  })

  it('shares the login failure count', async () => {
    const email = uniqueEmail()
    expect((await login(on.a, email, PASSWORD, '10.3.0.2')).statusCode).toBe(401)
    expect((await login(on.b, email, PASSWORD, '10.3.0.2')).statusCode).toBe(401)
    expectRateLimited(await login(on.a, email, PASSWORD, '10.3.0.2'), 900)
    expectRateLimited(await login(on.b, email, PASSWORD, '10.3.0.2'), 900)
    // The stored key is a hash: no e-mail address in Redis.
    const keys = await on.redis.keys(`${on.prefix}*`)
    expect(keys.join(' ')).not.toContain(email)
  })
})

describe('with Redis unreachable', () => {
  let t: TestApp
  beforeAll(async () => {
    const port = await freePort()
    t = await createTestApp({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_MAX: '1',
      LOGIN_MAX_FAILURES: '1',
    })
  })
  afterAll(() => t.close())

  it('fails open: requests are served, not limited and not 500', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await get(t, '/openapi.json')).statusCode).toBe(200)
      const response = await login(t, 'nobody@example.com', PASSWORD)
      expect(response.statusCode).toBe(401)
      expect(response.json()).toEqual(INVALID_CREDENTIALS)
    }
  })
})
