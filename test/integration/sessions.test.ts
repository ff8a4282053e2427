import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInstance, createTestApp, type TestApp } from '../helpers/app.js'
import { login, postJson, refresh, type Tokens, verifiedUser } from '../helpers/auth-flow.js'
import { createTestDatabase } from '../helpers/database.js'
import { makeAdmin, makeSession, makeUser } from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

const rejected = { detail: 'Could not validate credentials', code: 'invalid_token' }

const bearer = (tokens: Tokens | string) => ({
  authorization: `Bearer ${typeof tokens === 'string' ? tokens : tokens.access_token}`,
})
const sidOf = (tokens: Tokens) => decodeJwt(tokens.access_token).sid as string

const get = (t: TestApp, url: string, tokens: Tokens) =>
  t.app.inject({ method: 'GET', url, headers: bearer(tokens) })
const del = (t: TestApp, url: string, tokens: Tokens) =>
  t.app.inject({ method: 'DELETE', url, headers: bearer(tokens) })

/** GET /users/me with the token: SIGNED_IN while its session lives, REFUSED after. */
async function meAnswer(t: TestApp, tokens: Tokens | string) {
  const response = await t.app.inject({ method: 'GET', url: '/users/me', headers: bearer(tokens) })
  return {
    status: response.statusCode,
    challenge: response.headers['www-authenticate'],
    error: response.statusCode === 200 ? undefined : response.json(),
  }
}
const SIGNED_IN = { status: 200, challenge: undefined, error: undefined }
const REFUSED = { status: 401, challenge: 'Bearer', error: rejected }

/** A verified user logged in `count` times, each login a session. */
async function userWithSessions(t: TestApp, count: number) {
  const user = await verifiedUser(t)
  const sessions: Tokens[] = []
  for (let i = 0; i < count; i++) sessions.push(await login(t, user.email, user.password))
  return { user, sessions }
}

async function expectAlive(t: TestApp, tokens: Tokens) {
  expect(await meAnswer(t, tokens)).toEqual(SIGNED_IN)
  expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(200)
}

describe('sessions', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  describe('GET /users/me/sessions', () => {
    it('lists the live sessions, newest first, marking the current one', async () => {
      const { user } = await userWithSessions(t, 0)
      const loginAs = (userAgent: string, remoteAddress: string) =>
        t.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: user.email, password: user.password },
          headers: { 'user-agent': userAgent },
          remoteAddress,
        })
      const first = (await loginAs('Phone/1.0', '198.51.100.7')).json() as Tokens
      const loggedInAt = t.clock.now().toISOString()
      t.clock.advance(60_000)
      const second = (await loginAs('Laptop/2.0', '198.51.100.8')).json() as Tokens

      const asFirst = await get(t, '/users/me/sessions', first)
      expect(asFirst.statusCode).toBe(200)
      expect(asFirst.headers['cache-control']).toBe('no-store')
      const refreshTtl = t.config.refreshTokenTtlMs
      expect(asFirst.json()).toEqual({
        items: [
          {
            id: sidOf(second),
            created_at: t.clock.now().toISOString(),
            last_used_at: t.clock.now().toISOString(),
            expires_at: new Date(t.clock.now().getTime() + refreshTtl).toISOString(),
            user_agent: 'Laptop/2.0',
            ip: '198.51.100.8',
            current: false,
          },
          {
            id: sidOf(first),
            created_at: loggedInAt,
            last_used_at: loggedInAt,
            expires_at: new Date(Date.parse(loggedInAt) + refreshTtl).toISOString(),
            user_agent: 'Phone/1.0',
            ip: '198.51.100.7',
            current: true,
          },
        ],
      })
      const asSecond = (await get(t, '/users/me/sessions', second)).json()
      expect(asSecond.items.map((s: { current: boolean }) => s.current)).toEqual([true, false])
    })

    it('shows only the user’s own sessions, and needs a token', async () => {
      const { sessions } = await userWithSessions(t, 1)
      const other = await userWithSessions(t, 2)
      const listed = (await get(t, '/users/me/sessions', sessions[0] as Tokens)).json()
      expect(listed.items.map((s: { id: string }) => s.id)).toEqual([sidOf(sessions[0] as Tokens)])
      expect(other.sessions.map(sidOf)).not.toContain(listed.items[0].id)
      const anonymous = await t.app.inject({ method: 'GET', url: '/users/me/sessions' })
      expect(anonymous.statusCode).toBe(401)
      expect(anonymous.json()).toEqual({ detail: 'Not authenticated', code: 'not_authenticated' })
    })

    it('cuts the user agent to 256 characters, never inside a character', async () => {
      const { user } = await userWithSessions(t, 0)
      const long = `${'A'.repeat(255)}☕☕${'B'.repeat(700)}`
      const response = await t.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: user.password },
        headers: { 'user-agent': long },
      })
      const listed = (await get(t, '/users/me/sessions', response.json())).json()
      expect(listed.items[0].user_agent).toBe(`${'A'.repeat(255)}☕`)
      const astral = `${'A'.repeat(255)}🫖🫖`
      const second = await t.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: user.password },
        headers: { 'user-agent': astral },
      })
      const again = (await get(t, '/users/me/sessions', second.json())).json()
      expect(again.items[0].user_agent).toBe(`${'A'.repeat(255)}🫖`)
    })
  })

  describe('last_used_at', () => {
    it('moves at refresh, not on every request, and the idle expiry moves with it', async () => {
      const { sessions } = await userWithSessions(t, 1)
      const session = sessions[0] as Tokens
      const loggedInAt = t.clock.now().toISOString()
      const listed = async (tokens: Tokens) =>
        (await get(t, '/users/me/sessions', tokens)).json().items[0]
      t.clock.advance(5 * 60_000)
      for (let i = 0; i < 3; i++) expect(await meAnswer(t, session)).toEqual(SIGNED_IN)
      expect((await listed(session)).last_used_at).toBe(loggedInAt)

      const refreshed = (await refresh(t, session.refresh_token)).json() as Tokens
      const refreshedAt = t.clock.now()
      expect(await listed(refreshed)).toMatchObject({
        id: sidOf(session),
        created_at: loggedInAt,
        last_used_at: refreshedAt.toISOString(),
        expires_at: new Date(refreshedAt.getTime() + t.config.refreshTokenTtlMs).toISOString(),
      })
    })
  })

  describe('ending sessions', () => {
    it('logout: that session’s access token is 401 at once; the others live on', async () => {
      const { sessions } = await userWithSessions(t, 2)
      const [ended, kept] = sessions as [Tokens, Tokens]
      expect(await meAnswer(t, ended)).toEqual(SIGNED_IN)
      const out = await postJson(t, '/auth/logout', { refresh_token: ended.refresh_token })
      expect(out.statusCode).toBe(204)
      expect(await meAnswer(t, ended)).toEqual(REFUSED)
      await expectAlive(t, kept)
    })

    it('DELETE /users/me/sessions/{id}: another of one’s sessions, or the current one', async () => {
      const { sessions } = await userWithSessions(t, 3)
      const [current, other, third] = sessions as [Tokens, Tokens, Tokens]
      const ended = await del(t, `/users/me/sessions/${sidOf(other)}`, current)
      expect(ended.statusCode).toBe(204)
      expect(ended.body).toBe('')
      expect(await meAnswer(t, other)).toEqual(REFUSED)
      expect((await refresh(t, other.refresh_token)).statusCode).toBe(401)
      expect(await meAnswer(t, current)).toEqual(SIGNED_IN)
      // Once ended, it is gone from the list and a second DELETE is a 404.
      const listed = (await get(t, '/users/me/sessions', current)).json()
      expect(listed.items.map((s: { id: string }) => s.id)).toEqual([sidOf(third), sidOf(current)])
      expect((await del(t, `/users/me/sessions/${sidOf(other)}`, current)).statusCode).toBe(404)

      expect((await del(t, `/users/me/sessions/${sidOf(current)}`, current)).statusCode).toBe(204)
      expect(await meAnswer(t, current)).toEqual(REFUSED)
      await expectAlive(t, third)
    })

    it('DELETE /users/me/sessions: every session but the current one', async () => {
      const { sessions } = await userWithSessions(t, 3)
      const [current, ...others] = sessions as [Tokens, Tokens, Tokens]
      const bystander = await userWithSessions(t, 1)
      const response = await del(t, '/users/me/sessions', current)
      expect(response.statusCode).toBe(204)
      for (const other of others) {
        expect(await meAnswer(t, other)).toEqual(REFUSED)
        expect((await refresh(t, other.refresh_token)).statusCode).toBe(401)
      }
      await expectAlive(t, current)
      await expectAlive(t, bystander.sessions[0] as Tokens)
    })

    it('reuse detection ends the session (its newest access token too), not the others', async () => {
      const { sessions } = await userWithSessions(t, 2)
      const [stolen, kept] = sessions as [Tokens, Tokens]
      const next = (await refresh(t, stolen.refresh_token)).json() as Tokens
      expect(await meAnswer(t, next)).toEqual(SIGNED_IN)
      t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
      expect((await refresh(t, stolen.refresh_token)).statusCode).toBe(401)
      expect(await meAnswer(t, next)).toEqual(REFUSED)
      expect((await refresh(t, next.refresh_token)).statusCode).toBe(401)
      await expectAlive(t, kept)
    })

    it('a password change ends every session of the user, the one that asked included', async () => {
      const { user, sessions } = await userWithSessions(t, 2)
      const bystander = await userWithSessions(t, 1)
      const [current, other] = sessions as [Tokens, Tokens]
      const changed = await t.app.inject({
        method: 'PATCH',
        url: `/users/${user.id}`,
        headers: bearer(current),
        payload: { password: 'a-whole-new-roast-88', current_password: user.password },
      })
      expect(changed.statusCode).toBe(200)
      expect(await meAnswer(t, current)).toEqual(REFUSED)
      expect(await meAnswer(t, other)).toEqual(REFUSED)
      await expectAlive(t, bystander.sessions[0] as Tokens)
      // A new login starts a new session, which works.
      await expectAlive(t, await login(t, user.email, 'a-whole-new-roast-88'))
    })

    it('a password reset ends every session of the user', async () => {
      const { user, sessions } = await userWithSessions(t, 2)
      expect((await postJson(t, '/auth/password/forgot', { email: user.email })).statusCode).toBe(
        202,
      )
      const code = codeFrom(await t.inbox.waitForMessage(user.email, 2))
      const reset = await postJson(t, '/auth/password/reset', {
        email: user.email,
        code,
        new_password: 'reset-roast-and-grind-7',
      })
      expect(reset.statusCode).toBe(204)
      for (const session of sessions) expect(await meAnswer(t, session)).toEqual(REFUSED)
    })

    describe('by an admin', () => {
      let admin: Tokens
      beforeAll(async () => {
        const user = await makeAdmin(t)
        admin = await login(t, user.email, user.password)
      })

      it('DELETE /users/{id}/sessions ends every session of that user, not the admin’s', async () => {
        const { user, sessions } = await userWithSessions(t, 2)
        const response = await del(t, `/users/${user.id}/sessions`, admin)
        expect(response.statusCode).toBe(204)
        for (const session of sessions) {
          expect(await meAnswer(t, session)).toEqual(REFUSED)
          expect((await refresh(t, session.refresh_token)).statusCode).toBe(401)
        }
        expect(await meAnswer(t, admin)).toEqual(SIGNED_IN)
        expect((await get(t, `/users/${user.id}/sessions`, admin)).json()).toEqual({ items: [] })
      })

      it('GET /users/{id}/sessions lists them; 404 for an unknown user, 403 for a non-admin', async () => {
        const { user, sessions } = await userWithSessions(t, 2)
        const listed = await get(t, `/users/${user.id}/sessions`, admin)
        expect(listed.statusCode).toBe(200)
        expect(
          listed.json().items.map((s: { id: string; current: boolean }) => [s.id, s.current]),
        ).toEqual([
          [sidOf(sessions[1] as Tokens), false],
          [sidOf(sessions[0] as Tokens), false],
        ])
        const unknown = '01JD8X4ZQK3V7M2N5P6R8S9T0W'
        for (const method of ['GET', 'DELETE'] as const) {
          const url = `/users/${unknown}/sessions`
          const missing = await t.app.inject({ method, url, headers: bearer(admin) })
          expect(missing.statusCode).toBe(404)
          expect(missing.json()).toEqual({ detail: 'User not found', code: 'not_found' })
          const asUser = await t.app.inject({
            method,
            url: `/users/${user.id}/sessions`,
            headers: bearer(sessions[0] as Tokens),
          })
          expect(asUser.statusCode).toBe(403)
        }
        expect(await meAnswer(t, sessions[0] as Tokens)).toEqual(SIGNED_IN)
      })

      it('deactivation ends every session, and reactivating revives none', async () => {
        const { user, sessions } = await userWithSessions(t, 2)
        const patch = (payload: Record<string, unknown>) =>
          t.app.inject({
            method: 'PATCH',
            url: `/users/${user.id}`,
            headers: bearer(admin),
            payload,
          })
        expect((await patch({ is_active: false })).statusCode).toBe(200)
        expect((await patch({ is_active: true })).statusCode).toBe(200)
        for (const session of sessions) {
          expect(await meAnswer(t, session)).toEqual(REFUSED)
          expect((await refresh(t, session.refresh_token)).statusCode).toBe(401)
        }
        await expectAlive(t, await login(t, user.email, user.password))
      })
    })

    it('404 for another user’s session id, as for an unknown one; 422 for a malformed id', async () => {
      const { sessions } = await userWithSessions(t, 1)
      const victim = await userWithSessions(t, 1)
      const mine = sessions[0] as Tokens
      const theirs = victim.sessions[0] as Tokens
      for (const id of [sidOf(theirs), '01JD8X4ZQK3V7M2N5P6R8S9T0W']) {
        const response = await del(t, `/users/me/sessions/${id}`, mine)
        expect(response.statusCode).toBe(404)
        expect(response.json()).toEqual({ detail: 'Session not found', code: 'not_found' })
      }
      expect(await meAnswer(t, theirs)).toEqual(SIGNED_IN)
      expect((await del(t, '/users/me/sessions/not-a-ulid', mine)).statusCode).toBe(422)
    })

    it('refuses a token naming a session of another user, or none that exists', async () => {
      const user = await makeUser(t)
      const victim = await userWithSessions(t, 1)
      const sign = (sessionId: string) => t.services.tokens.issueAccessToken(user, sessionId).token
      expect(await meAnswer(t, sign(sidOf(victim.sessions[0] as Tokens)))).toEqual(REFUSED)
      expect(await meAnswer(t, sign('01JD8X4ZQK3V7M2N5P6R8S9T0W'))).toEqual(REFUSED)
      // The signer is sound: a session of the user's own is accepted.
      expect(await meAnswer(t, sign((await makeSession(t, user)).id))).toEqual(SIGNED_IN)
    })
  })
})

describe('SESSION_MAX_AGE', () => {
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

describe('the client address of a session', () => {
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

describe('ending a session on one instance', () => {
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

describe('GET /users/me', () => {
  it('reads the user and its session in one query', async () => {
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
      // The first request checks the signature, the second finds it in the cache: one query each.
      for (let i = 0; i < 2; i++) {
        queries.length = 0
        counting = true
        const response = await t.app.inject({
          method: 'GET',
          url: '/users/me',
          headers: bearer(tokens),
        })
        counting = false
        expect(response.statusCode).toBe(200)
        expect(queries).toHaveLength(1)
      }
    } finally {
      await t.close()
    }
  })
})
