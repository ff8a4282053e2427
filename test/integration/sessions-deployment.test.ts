import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstance, createTestApp, type TestApp } from '../helpers/app.js'
import { refresh, type Tokens } from '../helpers/auth-flow.js'
import { createTestDatabase } from '../helpers/database.js'
import { makeUser } from '../helpers/factories.js'
import { bearer, get, meAnswer, REFUSED, SIGNED_IN, userWithSessions } from '../helpers/sessions.js'

// Sessions as the operator's setup shapes them: a maximum age, a trusted proxy, several
// instances on one database; each test builds the app its setup needs.

describe('a session’s maximum age (SESSION_MAX_AGE)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({
      SESSION_MAX_AGE: '1h',
      REFRESH_TOKEN_TTL: '30m',
      ACCESS_TOKEN_TTL: '30m',
    })
  })
  afterAll(() => t.close())

  it('ends a session an hour after its login, however often it was refreshed', async () => {
    const { sessions } = await userWithSessions(t, 1)
    let tokens = sessions[0] as Tokens
    const loggedInAt = t.clock.now().getTime()
    for (let minutes = 20; minutes <= 40; minutes += 20) {
      t.clock.advance(20 * 60_000)
      const refreshed = await refresh(t, tokens.refresh_token)
      expect(refreshed.statusCode).toBe(200)
      tokens = refreshed.json()
    }
    // Refreshed at 40 min: idle expiry 70 min, capped at the login's hour.
    const listed = (await get(t, '/users/me/sessions', tokens)).json()
    expect(listed.items[0].expires_at).toBe(new Date(loggedInAt + 3_600_000).toISOString())
    t.clock.set(new Date(loggedInAt + 3_600_000 - 1_000))
    expect(await meAnswer(t, tokens)).toEqual(SIGNED_IN)
    // The access token itself has 10 more minutes, the session none.
    t.clock.set(new Date(loggedInAt + 3_600_000))
    expect(await meAnswer(t, tokens)).toEqual(REFUSED)
    expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401)
  })

  it('lets an idle session lapse after REFRESH_TOKEN_TTL, its access token with it', async () => {
    const { sessions } = await userWithSessions(t, 1)
    const tokens = sessions[0] as Tokens
    t.clock.advance(30 * 60_000)
    expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401)
  })
})

describe('the client address of a session (TRUST_PROXY)', () => {
  const loginVia = async (t: TestApp, forwardedFor: string) => {
    const { user } = await userWithSessions(t, 0)
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: user.password },
      remoteAddress: '10.0.0.1',
      headers: { 'x-forwarded-for': forwardedFor },
    })
    return (await get(t, '/users/me/sessions', response.json())).json().items[0].ip
  }

  it('is the peer without TRUST_PROXY, whatever X-Forwarded-For says', async () => {
    const t = await createTestApp()
    try {
      expect(await loginVia(t, '203.0.113.9')).toBe('10.0.0.1')
    } finally {
      await t.close()
    }
  })

  it('is the client the trusted proxy saw with TRUST_PROXY', async () => {
    const t = await createTestApp({ TRUST_PROXY: '10.0.0.0/8' })
    try {
      expect(await loginVia(t, '192.0.2.1, 203.0.113.9')).toBe('203.0.113.9')
    } finally {
      await t.close()
    }
  })
})

describe('ending a session with several instances', () => {
  it('is seen at once by another instance that already accepted its token', async () => {
    const database = await createTestDatabase()
    const first = await createInstance(database.database)
    const second = await createInstance(database.database)
    try {
      const user = await makeUser(database.database.db)
      const loggedIn = await first.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: user.password },
      })
      const tokens = loggedIn.json() as Tokens
      const me = (instance: typeof first) =>
        instance.app.inject({ method: 'GET', url: '/users/me', headers: bearer(tokens) })
      expect((await me(second)).statusCode).toBe(200)
      const out = await first.app.inject({
        method: 'POST',
        url: '/auth/logout',
        payload: { refresh_token: tokens.refresh_token },
      })
      expect(out.statusCode).toBe(204)
      expect((await me(second)).statusCode).toBe(401)
      expect((await me(first)).statusCode).toBe(401)
    } finally {
      await first.close()
      await second.close()
      await database.drop()
    }
  })
})

describe('checking the session of a request', () => {
  it('reads the user and its session in one query, then from the auth cache', async () => {
    const queries: string[] = []
    let counting = false
    const database = await createTestDatabase({
      onQuery: (query) => {
        if (counting) queries.push(query)
      },
    })
    const t = await createTestApp({}, { database })
    try {
      const { sessions } = await userWithSessions(t, 1)
      const tokens = sessions[0] as Tokens
      // The first request reads both in one query; the second finds them in the auth cache
      // (its round trip on the listening connection is no Drizzle query).
      for (const expected of [1, 0]) {
        queries.length = 0
        counting = true
        const response = await t.app.inject({
          method: 'GET',
          url: '/users/me',
          headers: bearer(tokens),
        })
        counting = false
        expect(response.statusCode).toBe(200)
        expect(queries).toHaveLength(expected)
      }
    } finally {
      await t.close()
    }
  })
})
