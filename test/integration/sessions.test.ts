import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { login, postJson, refresh, type Tokens } from '../helpers/auth-flow.js'
import { makeAdmin, makeSession, makeUser } from '../helpers/factories.js'
import {
  bearer,
  del,
  expectAlive,
  get,
  meAnswer,
  REFUSED,
  SIGNED_IN,
  sidOf,
  userWithSessions,
} from '../helpers/sessions.js'
import { codeFrom } from '../helpers/smtp.js'

// Sessions as a user and an admin see them: listed, used, ended. How the operator's setup
// shapes them (maximum age, proxies, several instances) is in sessions-deployment.test.ts.

describe('a user’s sessions', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  describe('listing one’s sessions', () => {
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

  describe('when a session was last used (last_used_at)', () => {
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
