import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { makeUser, uniqueEmail } from '../helpers/factories.js'
import { expectRateLimited, loginFrom } from '../helpers/limits.js'

/** Per client: 3 requests a minute, 2 failed logins per account in 15 minutes. */
const LIMITS = { RATE_LIMIT_MAX: '3', AUTH_RATE_LIMIT_MAX: '0', LOGIN_MAX_FAILURES: '2' }
const WRONG = 'not-the-password-77'

let spoofs = 0
/** What an attacker writes into X-Forwarded-For: a new made-up address every time. */
const spoofed = () => `192.0.2.${++spoofs % 250}`

const getFrom = (t: TestApp, remoteAddress: string, forwardedFor?: string) =>
  t.app.inject({
    method: 'GET',
    url: '/openapi.json',
    remoteAddress,
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  })

describe('TRUST_PROXY as a hop count (1: one proxy in front)', () => {
  const PROXY = '10.0.0.1'
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ ...LIMITS, TRUST_PROXY: '1' })
  })
  afterAll(() => t.close())

  it('limits the client the proxy saw, whatever the client put in front', async () => {
    // The proxy appends the address it saw; anything before it is the client's own text.
    const viaProxy = (client: string) => getFrom(t, PROXY, `${spoofed()}, ${spoofed()}, ${client}`)
    for (let i = 0; i < 3; i++) expect((await viaProxy('203.0.113.7')).statusCode).toBe(200)
    expectRateLimited(await viaProxy('203.0.113.7'), 60)
    // Another real client behind the same proxy has its own budget.
    expect((await viaProxy('203.0.113.8')).statusCode).toBe(200)
  })

  it('throttles failed logins of the real client through the proxy', async () => {
    const user = await makeUser(t)
    const viaProxy = (password: string) =>
      loginFrom(t, PROXY, user.email, password, {
        'x-forwarded-for': `${spoofed()}, 203.0.113.20`,
      })
    expect((await viaProxy(WRONG)).statusCode).toBe(401)
    expect((await viaProxy(WRONG)).statusCode).toBe(401)
    // The login throttle's window (15 min), not the request limit's minute.
    expect(expectRateLimited(await viaProxy(user.password), 900)).toBeGreaterThan(800)
  })
})

describe('TRUST_PROXY as a list of proxy addresses and CIDRs', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ ...LIMITS, TRUST_PROXY: '10.0.0.0/8, 192.168.1.5, fd00::/8' })
  })
  afterAll(() => t.close())

  it('ignores X-Forwarded-For from a peer that is not a listed proxy', async () => {
    const attacker = '198.51.100.66'
    for (let i = 0; i < 3; i++) expect((await getFrom(t, attacker, spoofed())).statusCode).toBe(200)
    expectRateLimited(await getFrom(t, attacker, spoofed()), 60)
    expectRateLimited(await getFrom(t, attacker, `${spoofed()}, 10.0.0.9`), 60)
  })

  it('walks back through every listed proxy to the real client', async () => {
    // Client → 192.168.1.5 → 10.1.2.3 → the API; the client prepended a made-up address.
    const chain = () => getFrom(t, '10.1.2.3', `${spoofed()}, 203.0.113.30, 192.168.1.5`)
    for (let i = 0; i < 3; i++) expect((await chain()).statusCode).toBe(200)
    expectRateLimited(await chain(), 60)
    // An IPv6 proxy from the list, and the same client behind it: the same budget.
    expectRateLimited(await getFrom(t, 'fd00::1', `${spoofed()}, 203.0.113.30`), 60)
    expect((await getFrom(t, 'fd00::1', '203.0.113.31')).statusCode).toBe(200)
  })

  it('throttles failed logins whatever X-Forwarded-For says', async () => {
    const email = uniqueEmail('target')
    const direct = () =>
      loginFrom(t, '198.51.100.77', email, WRONG, { 'x-forwarded-for': spoofed() })
    expect((await direct()).statusCode).toBe(401)
    expect((await direct()).statusCode).toBe(401)
    expect(expectRateLimited(await direct(), 900)).toBeGreaterThan(800)
  })
})
