import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailPseudonym, keysFor } from '../../src/core/keys.js'
import { type AuditEventRow, auditEvents } from '../../src/db/schema.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import { auditProbe, expectNoSecrets, USER_AGENT } from '../helpers/audit.js'
import { PASSWORD, uniqueEmail } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin, makeUser } from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

// Each security event is written in the transaction of its change, with who did it, from
// where and in which request, and never a secret. A change that fails leaves no event.

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const { send, eventsOf, onlyEvent, signedUpAndVerified } = auditProbe(() => t)

describe('events of the account flows', () => {
  it('sign-up and verification: the user is the actor, with the request it came in', async () => {
    const { id, email, code, signup, verify } = await signedUpAndVerified()

    const signedUp = await onlyEvent('user.signed_up', id)
    expect(signedUp).toMatchObject({
      actorId: id,
      userId: id,
      ip: '127.0.0.1',
      userAgent: USER_AGENT,
      requestId: signup.requestId,
      details: {},
    })
    const verified = await onlyEvent('user.verified', id)
    expect(verified).toMatchObject({ actorId: id, requestId: verify.requestId })
    for (const row of [signedUp, verified]) expectNoSecrets(row, [PASSWORD, code, email])
  })

  it('login: success names the session; failures name no actor and no password', async () => {
    const { id, email } = await signedUpAndVerified()
    const wrong = await send('POST', '/auth/login', { email, password: 'not-the-password-1' })
    expect(wrong.response.statusCode).toBe(401)
    const ok = await send('POST', '/auth/login', { email, password: PASSWORD })
    expect(ok.response.statusCode).toBe(200)
    const tokens = ok.response.json() as { access_token: string; refresh_token: string }

    const failed = await onlyEvent('login.failed', id)
    expect(failed).toMatchObject({
      actorId: null,
      userId: id,
      requestId: wrong.requestId,
      details: { reason: 'wrong_password' },
    })
    const succeeded = await onlyEvent('login.succeeded', id)
    expect(succeeded).toMatchObject({ actorId: id, userId: id, requestId: ok.requestId })
    expect(succeeded.details.session_id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/)
    for (const row of [failed, succeeded]) {
      expectNoSecrets(row, [
        PASSWORD,
        'not-the-password-1',
        tokens.access_token,
        tokens.refresh_token,
      ])
    }
  })

  it('login with an unknown e-mail: a keyed hash of the address, never the address', async () => {
    const email = uniqueEmail('nobody')
    const password = 'guessed-password-77'
    const { response, requestId } = await send('POST', '/auth/login', { email, password })
    expect(response.statusCode).toBe(401)

    const [row] = (await eventsOf('login.failed', null)).filter((r) => r.requestId === requestId)
    expect(row).toMatchObject({
      actorId: null,
      userId: null,
      details: { reason: 'unknown_email', email_hash: emailPseudonym(keysFor(TEST_SECRET), email) },
    })
    expectNoSecrets(row as AuditEventRow, [email, email.split('@')[0] as string, password])
  })

  it('login of an unverified or inactive account is a failed login too', async () => {
    const unverified = await makeUser(t, { isVerified: false })
    const inactive = await makeUser(t, { isActive: false })
    for (const user of [unverified, inactive]) {
      const { response } = await send('POST', '/auth/login', {
        email: user.email,
        password: user.password,
      })
      expect(response.statusCode).toBe(403)
    }
    expect((await onlyEvent('login.failed', unverified.id)).details).toEqual({
      reason: 'email_not_verified',
    })
    expect((await onlyEvent('login.failed', inactive.id)).details).toEqual({
      reason: 'inactive_user',
    })
    expect(await eventsOf('login.succeeded', unverified.id)).toEqual([])
  })

  it('logout and refresh-token reuse: the session each ended', async () => {
    const user = await makeUser(t)
    const credentials = { email: user.email, password: user.password }
    const first = (await send('POST', '/auth/login', credentials)).response.json()
    const second = (await send('POST', '/auth/login', credentials)).response.json()

    const logout = await send('POST', '/auth/logout', { refresh_token: first.refresh_token })
    expect(logout.response.statusCode).toBe(204)

    const refreshed = await send('POST', '/auth/refresh', { refresh_token: second.refresh_token })
    expect(refreshed.response.statusCode).toBe(200)
    t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
    const replay = await send('POST', '/auth/refresh', { refresh_token: second.refresh_token })
    expect(replay.response.statusCode).toBe(401)

    const [firstSession, secondSession] = await eventsOf('login.succeeded', user.id)
    const loggedOut = await onlyEvent('logout', user.id)
    expect(loggedOut).toMatchObject({
      actorId: user.id,
      requestId: logout.requestId,
      details: { session_id: firstSession?.details.session_id },
    })
    const reuse = await onlyEvent('refresh.reuse_detected', user.id)
    expect(reuse).toMatchObject({
      actorId: null,
      requestId: replay.requestId,
      details: { session_id: secondSession?.details.session_id },
    })
    const tokens = [first, second, refreshed.response.json()].flatMap((pair) => [
      pair.access_token as string,
      pair.refresh_token as string,
    ])
    for (const row of [loggedOut, reuse]) expectNoSecrets(row, [user.password, ...tokens])
  })

  it('password reset: the code proved the address, so its owner is the actor', async () => {
    const user = await makeUser(t)
    expect(
      (await send('POST', '/auth/password/forgot', { email: user.email })).response.statusCode,
    ).toBe(202)
    const code = codeFrom(await t.inbox.waitForMessage(user.email))
    const newPassword = 'cold-brew-reset-2026'
    const reset = await send('POST', '/auth/password/reset', {
      email: user.email,
      code,
      new_password: newPassword,
    })
    expect(reset.response.statusCode).toBe(204)

    const row = await onlyEvent('password.reset', user.id)
    expect(row).toMatchObject({ actorId: user.id, requestId: reset.requestId })
    expectNoSecrets(row, [code, newPassword, user.password, user.passwordHash])
  })
})

describe('session events', () => {
  it('ending sessions records each one, with who ended it', async () => {
    const user = await makeUser(t)
    const admin = await makeAdmin(t)
    const credentials = { email: user.email, password: user.password }
    const first = (await send('POST', '/auth/login', credentials)).response.json()
    const second = (await send('POST', '/auth/login', credentials)).response.json()
    const [firstLogin, secondLogin] = await eventsOf('login.succeeded', user.id)
    const firstId = firstLogin?.details.session_id as string

    const own = await send('DELETE', `/users/me/sessions/${firstId}`, undefined, {
      authorization: `Bearer ${second.access_token}`,
    })
    expect(own.response.statusCode).toBe(204)
    const byAdmin = await send(
      'DELETE',
      `/users/${user.id}/sessions`,
      undefined,
      await authHeaders(t, admin),
    )
    expect(byAdmin.response.statusCode).toBe(204)

    const revoked = await eventsOf('session.revoked', user.id)
    expect(revoked).toEqual([
      expect.objectContaining({
        actorId: user.id,
        requestId: own.requestId,
        details: { session_id: firstId, reason: 'revoked' },
      }),
      expect.objectContaining({
        actorId: admin.id,
        requestId: byAdmin.requestId,
        details: { session_id: secondLogin?.details.session_id, reason: 'revoked_by_admin' },
      }),
    ])
    for (const row of revoked) {
      expectNoSecrets(row, [first.refresh_token, second.refresh_token, second.access_token])
    }
  })
})

describe('the client address', () => {
  it('is the forwarded one only from a trusted proxy (TRUST_PROXY)', async () => {
    const behindProxy = await createTestApp({ TRUST_PROXY: '10.0.0.0/8' })
    try {
      const login = (remoteAddress: string, email: string) =>
        behindProxy.app.inject({
          method: 'POST',
          url: '/auth/login',
          remoteAddress,
          payload: { email, password: 'wrong-password-42' },
          headers: { 'x-forwarded-for': '203.0.113.9' },
        })
      const viaProxy = await makeUser(behindProxy)
      const direct = await makeUser(behindProxy)
      expect((await login('10.1.2.3', viaProxy.email)).statusCode).toBe(401)
      expect((await login('198.51.100.4', direct.email)).statusCode).toBe(401)
      const ipOf = async (userId: string) => {
        const rows = await behindProxy.db
          .select({ ip: auditEvents.ip })
          .from(auditEvents)
          .where(and(eq(auditEvents.type, 'login.failed'), eq(auditEvents.userId, userId)))
        return rows.map((row) => row.ip)
      }
      expect(await ipOf(viaProxy.id)).toEqual(['203.0.113.9'])
      // Anyone may send the header: from a client that is not the proxy, it is ignored.
      expect(await ipOf(direct.id)).toEqual(['198.51.100.4'])
    } finally {
      await behindProxy.close()
    }
  })
})
