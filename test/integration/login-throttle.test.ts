import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, type MadeUser, makeUser, uniqueEmail } from '../helpers/factories.js'
import {
  dropRedisKeys,
  expectRateLimited,
  INVALID_CREDENTIALS,
  loginFrom,
  RATE_LIMITED,
  redisKeyPrefix,
  redisUrl,
} from '../helpers/limits.js'

const WRONG = 'not-the-password-77'
const HOUR_S = 3_600
const redisPrefix = redisKeyPrefix()
/** The per-client throttle at 3 failures per 15 min, the account limit at 8 per hour. */
const LIMITS = {
  LOGIN_MAX_FAILURES: '3',
  LOGIN_ACCOUNT_MAX_FAILURES: '8',
  LOGIN_ACCOUNT_WINDOW: '1h',
}

let address = 0
/** A fresh IPv4 client address for every call, as a botnet would have. */
const nextAddress = () => `198.18.${Math.floor(++address / 250)}.${(address % 250) + 1}`

const patchPassword = async (t: TestApp, user: MadeUser, current: string, from: string) =>
  t.app.inject({
    method: 'PATCH',
    url: `/users/${user.id}`,
    headers: await authHeaders(t, user),
    payload: { password: 'a-brand-new-password-31', current_password: current },
    remoteAddress: from,
  })

describe.each([
  ['in memory', {}],
  ['in Redis', { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redisPrefix }],
])('the login throttle, counters %s', (store, storeEnv) => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ ...storeEnv, ...LIMITS })
  })
  afterAll(async () => {
    await t?.close()
    if (store !== 'in Redis') return
    await dropRedisKeys(new Redis(redisUrl, { maxRetriesPerRequest: 1 }), redisPrefix)
  })

  it('stops wrong passwords to one account from many addresses, until the window ends', async () => {
    const victim = await makeUser(t)
    const answers: number[] = []
    for (let i = 0; i < 20; i++) {
      answers.push((await loginFrom(t, nextAddress(), victim.email, WRONG)).statusCode)
    }
    expect(answers).toEqual([...Array(8).fill(401), ...Array(12).fill(429)])
    // Locked for everyone, the owner with the right password too: the trade-off of the limit.
    const owner = await loginFrom(t, nextAddress(), victim.email, victim.password)
    expect(expectRateLimited(owner, HOUR_S)).toBeGreaterThan(HOUR_S - 60)
    // Another account is untouched.
    const other = await makeUser(t)
    expect((await loginFrom(t, nextAddress(), other.email, other.password)).statusCode).toBe(200)

    t.clock.advance(HOUR_S * 1_000 - 1_000)
    expectRateLimited(await loginFrom(t, nextAddress(), victim.email, victim.password), 1)
    t.clock.advance(1_000)
    expect((await loginFrom(t, nextAddress(), victim.email, victim.password)).statusCode).toBe(200)
  })

  it('answers an account that does not exist the same way (no enumeration)', async () => {
    const ghost = uniqueEmail('ghost')
    for (let i = 0; i < 8; i++) {
      const response = await loginFrom(t, nextAddress(), ghost, WRONG)
      expect(response.statusCode).toBe(401)
      expect(response.json()).toEqual(INVALID_CREDENTIALS)
    }
    expectRateLimited(await loginFrom(t, nextAddress(), ghost, WRONG), HOUR_S)
  })

  it('lets parallel guesses from many addresses through no further than the limit', async () => {
    const victim = await makeUser(t)
    const burst = await Promise.all(
      Array.from({ length: 30 }, () => loginFrom(t, nextAddress(), victim.email, WRONG)),
    )
    const statuses = burst.map((response) => response.statusCode)
    expect(statuses.filter((status) => status === 401)).toHaveLength(8)
    expect(statuses.filter((status) => status === 429)).toHaveLength(22)
  })

  it('does not let one throttled client use up the account budget', async () => {
    const victim = await makeUser(t)
    const attacker = nextAddress()
    for (let i = 0; i < 3; i++) {
      expect((await loginFrom(t, attacker, victim.email, WRONG)).statusCode).toBe(401)
    }
    for (let i = 0; i < 20; i++) {
      expect((await loginFrom(t, attacker, victim.email, WRONG)).statusCode).toBe(429)
    }
    // Only its 3 real guesses counted: 4 more addresses get theirs and the owner still gets in.
    for (let i = 0; i < 4; i++) {
      expect((await loginFrom(t, nextAddress(), victim.email, WRONG)).statusCode).toBe(401)
    }
    expect((await loginFrom(t, nextAddress(), victim.email, victim.password)).statusCode).toBe(200)
  })

  it('never counts right passwords, however many', async () => {
    const user = await makeUser(t)
    const from = nextAddress()
    for (let i = 0; i < 12; i++) {
      expect((await loginFrom(t, from, user.email, user.password)).statusCode).toBe(200)
    }
    for (let i = 0; i < 3; i++) await loginFrom(t, from, user.email, WRONG)
    expectRateLimited(await loginFrom(t, from, user.email, user.password), 900)
  })

  it('keys IPv6 clients by their /64, as the request limits do', async () => {
    const user = await makeUser(t)
    for (let i = 0; i < 3; i++) {
      const from = `2001:db8:7:1::${i + 1}`
      expect((await loginFrom(t, from, user.email, WRONG)).statusCode).toBe(401)
    }
    // Another address of the same /64, written differently: the same client.
    expectRateLimited(
      await loginFrom(t, '2001:0db8:0007:0001:ffff:ab:cd:ef', user.email, WRONG),
      900,
    )
    // The next /64 is another client.
    expect((await loginFrom(t, '2001:db8:7:2::1', user.email, WRONG)).statusCode).toBe(401)
  })

  it('counts a wrong current_password on PATCH /users/{id} as a failed login', async () => {
    const user = await makeUser(t)
    const from = nextAddress()
    for (let i = 0; i < 3; i++) {
      const response = await patchPassword(t, user, WRONG, from)
      expect(response.statusCode).toBe(422)
      expect(response.json()).toMatchObject({
        code: 'invalid_credentials',
        detail: [{ loc: ['body', 'current_password'], type: 'invalid_credentials' }],
      })
    }
    expectRateLimited(await loginFrom(t, from, user.email, user.password), 900)
    // Guessing through PATCH is throttled as well, even with the right password.
    const patch = await patchPassword(t, user, user.password, from)
    expect(patch.statusCode).toBe(429)
    expect(patch.json()).toEqual(RATE_LIMITED)
    // The owner elsewhere is not locked out: the account limit is higher.
    expect((await loginFrom(t, nextAddress(), user.email, user.password)).statusCode).toBe(200)
  })
})
