import { asc, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/db/schema.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { invalidCode, postJson } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin, makeUser } from '../helpers/factories.js'
import { enrolTotp, mfaUser, totpAt, wrongCode } from '../helpers/totp.js'

type Headers = { authorization: string }

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const post = (target: TestApp, url: string, headers: Headers, payload: Record<string, unknown>) =>
  target.app.inject({ method: 'POST', url, headers, payload })
const me = (target: TestApp, headers: Headers) =>
  target.app.inject({ method: 'GET', url: '/users/me', headers })

describe('turning MFA off', () => {
  it('needs the password and a code; then login needs the password alone, and an e-mail says so', async () => {
    const { user, headers, secret } = await mfaUser(t)
    const wrongPassword = await post(t, '/users/me/mfa/totp/disable', headers, {
      current_password: 'not-the-password-1',
      code: totpAt(secret, t.clock.now()),
    })
    expect(wrongPassword.statusCode).toBe(422)
    expect(wrongPassword.json().code).toBe('invalid_credentials')
    const wrong = await post(t, '/users/me/mfa/totp/disable', headers, {
      current_password: user.password,
      code: wrongCode(secret, t.clock.now()),
    })
    expect(wrong.statusCode).toBe(400)
    expect(wrong.json()).toEqual(invalidCode)
    const off = await post(t, '/users/me/mfa/totp/disable', headers, {
      current_password: user.password,
      code: totpAt(secret, t.clock.now()),
    })
    expect(off.statusCode).toBe(204)
    expect((await me(t, headers)).json().mfa_enabled).toBe(false)
    const login = await postJson(t, '/auth/login', { email: user.email, password: user.password })
    expect(login.statusCode).toBe(200)
    const mail = await t.inbox.waitForMessage(user.email)
    expect(mail.subject).toBe('Two-factor authentication was turned off')
  })

  it('takes a recovery code instead of a TOTP code', async () => {
    const { user, headers, recoveryCodes } = await mfaUser(t)
    const off = await post(t, '/users/me/mfa/totp/disable', headers, {
      current_password: user.password,
      code: recoveryCodes[3],
    })
    expect(off.statusCode).toBe(204)
    expect((await me(t, headers)).json().mfa_enabled).toBe(false)
  })

  it('refuses a replayed TOTP code', async () => {
    const { user, headers, secret } = await mfaUser(t)
    const code = totpAt(secret, t.clock.now())
    const regenerated = await post(t, '/users/me/mfa/recovery-codes', headers, {
      current_password: user.password,
      code,
    })
    expect(regenerated.statusCode).toBe(200)
    const replay = await post(t, '/users/me/mfa/totp/disable', headers, {
      current_password: user.password,
      code,
    })
    expect(replay.statusCode).toBe(400)
    expect((await me(t, headers)).json().mfa_enabled).toBe(true)
  })
})

describe('new recovery codes', () => {
  it('replace the old ones', async () => {
    const { user, headers, secret, recoveryCodes } = await mfaUser(t)
    const response = await post(t, '/users/me/mfa/recovery-codes', headers, {
      current_password: user.password,
      code: totpAt(secret, t.clock.now()),
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    const fresh: string[] = response.json().recovery_codes
    expect(fresh).toHaveLength(10)
    expect(fresh.filter((code) => recoveryCodes.includes(code))).toEqual([])
    const token = async () =>
      (await postJson(t, '/auth/login', { email: user.email, password: user.password })).json()
        .mfa_token
    const old = await postJson(t, '/auth/mfa/verify', {
      mfa_token: await token(),
      recovery_code: recoveryCodes[0],
    })
    expect(old.statusCode).toBe(400)
    const current = await postJson(t, '/auth/mfa/verify', {
      mfa_token: await token(),
      recovery_code: fresh[0],
    })
    expect(current.statusCode).toBe(200)
  })
})

describe('an admin’s reset of a user’s MFA', () => {
  it("turns the user's MFA off and ends their sessions", async () => {
    const admin = await makeAdmin(t)
    const { user, headers } = await mfaUser(t)
    const reset = await t.app.inject({
      method: 'DELETE',
      url: `/users/${user.id}/mfa`,
      headers: await authHeaders(t, admin),
    })
    expect(reset.statusCode).toBe(204)
    // The user's token of before is refused from the next request on.
    expect((await me(t, headers)).statusCode).toBe(401)
    const login = await postJson(t, '/auth/login', { email: user.email, password: user.password })
    expect(login.statusCode).toBe(200)
    const after = await me(t, { authorization: `Bearer ${login.json().access_token}` })
    expect(after.json().mfa_enabled).toBe(false)
  })

  it('is for admins only, and 404 for an unknown id', async () => {
    const admin = await makeAdmin(t)
    const { user, headers } = await mfaUser(t)
    const byUser = await t.app.inject({ method: 'DELETE', url: `/users/${user.id}/mfa`, headers })
    expect(byUser.statusCode).toBe(403)
    const unknown = await t.app.inject({
      method: 'DELETE',
      url: '/users/01J00000000000000000000000/mfa',
      headers: await authHeaders(t, admin),
    })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json()).toEqual({ detail: 'User not found', code: 'not_found' })
    const anonymous = await t.app.inject({ method: 'DELETE', url: `/users/${user.id}/mfa` })
    expect(anonymous.statusCode).toBe(401)
  })
})

describe('wrong MFA codes and the login throttle', () => {
  let throttled: TestApp
  beforeAll(async () => {
    throttled = await createTestApp({ LOGIN_MAX_FAILURES: '3', LOGIN_ACCOUNT_MAX_FAILURES: '0' })
  })
  afterAll(() => throttled.close())

  it('count as failed logins of the account', async () => {
    const { user, secret } = await mfaUser(throttled)
    const login = await postJson(throttled, '/auth/login', {
      email: user.email,
      password: user.password,
    })
    const token = login.json().mfa_token
    const wrong = wrongCode(secret, throttled.clock.now())
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const answer = await postJson(throttled, '/auth/mfa/verify', {
        mfa_token: token,
        code: wrong,
      })
      statuses.push(answer.statusCode)
    }
    expect(statuses).toEqual([400, 400, 400, 429])
    const right = await postJson(throttled, '/auth/mfa/verify', {
      mfa_token: token,
      code: totpAt(secret, throttled.clock.now()),
    })
    expect(right.statusCode).toBe(429)
  })
})

describe('REQUIRE_ADMIN_MFA', () => {
  let strict: TestApp
  beforeAll(async () => {
    strict = await createTestApp({ REQUIRE_ADMIN_MFA: 'true' })
  })
  afterAll(() => strict.close())

  it('keeps an admin without MFA to /users/me and enrolment, until enrolled', async () => {
    const admin = await makeAdmin(strict)
    const headers = await authHeaders(strict, admin)
    const list = () => strict.app.inject({ method: 'GET', url: '/users', headers })
    const refused = await list()
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toEqual({
      detail: 'Admins must turn on two-factor authentication first: POST /users/me/mfa/totp',
      code: 'mfa_enrolment_required',
    })
    const sessions = await strict.app.inject({ method: 'GET', url: '/users/me/sessions', headers })
    expect(sessions.statusCode).toBe(403)
    // Refused before the body is read: a body the route would reject changes nothing.
    const patch = await strict.app.inject({
      method: 'PATCH',
      url: `/users/${admin.id}`,
      headers,
      payload: { role: 'emperor' },
    })
    expect(patch.statusCode).toBe(403)
    expect(patch.json().code).toBe('mfa_enrolment_required')
    expect((await me(strict, headers)).statusCode).toBe(200)
    await enrolTotp(strict, headers, admin.password)
    expect((await list()).statusCode).toBe(200)
  })

  it('leaves users without MFA alone', async () => {
    const user = await makeUser(strict)
    const headers = await authHeaders(strict, user)
    const sessions = await strict.app.inject({ method: 'GET', url: '/users/me/sessions', headers })
    expect(sessions.statusCode).toBe(200)
  })

  it('is off by default', async () => {
    const admin = await makeAdmin(t)
    const list = await t.app.inject({
      method: 'GET',
      url: '/users',
      headers: await authHeaders(t, admin),
    })
    expect(list.statusCode).toBe(200)
  })
})

describe('the audit log', () => {
  const typesOf = async (userId: string) =>
    (
      await t.db
        .select()
        .from(auditEvents)
        .where(eq(auditEvents.userId, userId))
        .orderBy(asc(auditEvents.at), asc(auditEvents.id))
    ).map((event) => ({ type: event.type, actorId: event.actorId, details: event.details }))

  it('records mfa.enabled, mfa.recovery_code_used and mfa.disabled, never a code', async () => {
    const { user, headers, recoveryCodes, secret } = await mfaUser(t)
    const login = await postJson(t, '/auth/login', { email: user.email, password: user.password })
    const verified = await postJson(t, '/auth/mfa/verify', {
      mfa_token: login.json().mfa_token,
      recovery_code: recoveryCodes[0],
    })
    expect(verified.statusCode).toBe(200)
    const off = await post(t, '/users/me/mfa/totp/disable', headers, {
      current_password: user.password,
      code: totpAt(secret, t.clock.now()),
    })
    expect(off.statusCode).toBe(204)
    const events = await typesOf(user.id)
    expect(events.filter((event) => event.type.startsWith('mfa.'))).toEqual([
      { type: 'mfa.enabled', actorId: user.id, details: {} },
      { type: 'mfa.recovery_code_used', actorId: user.id, details: {} },
      { type: 'mfa.disabled', actorId: user.id, details: { by: 'user' } },
    ])
    expect(events.map((event) => event.type)).toContain('login.succeeded')
    const stored = JSON.stringify(events)
    for (const code of recoveryCodes) expect(stored).not.toContain(code)
  })

  it("records an admin's reset with the admin as actor", async () => {
    const admin = await makeAdmin(t)
    const { user } = await mfaUser(t)
    const reset = await t.app.inject({
      method: 'DELETE',
      url: `/users/${user.id}/mfa`,
      headers: await authHeaders(t, admin),
    })
    expect(reset.statusCode).toBe(204)
    const events = await typesOf(user.id)
    expect(events.at(-1)).toEqual({
      type: 'mfa.disabled',
      actorId: admin.id,
      details: { by: 'admin' },
    })
  })
})
