import { and, count, eq, isNull, lt } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEventType } from '../../src/core/audit-events.js'
import { emailPseudonym, keysFor } from '../../src/core/keys.js'
import { unthrottled } from '../../src/core/login-throttle.js'
import { MAX_USER_AGENT_LENGTH } from '../../src/core/request-context.js'
import { type AuditEventRow, auditEvents } from '../../src/db/schema.js'
import type { Mailer } from '../../src/mailer.js'
import { createMetrics } from '../../src/metrics.js'
import { createRepositories, type Repositories } from '../../src/repositories/index.js'
import { runCleanup } from '../../src/services/cleanup.js'
import { createServices } from '../../src/services/index.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import { PASSWORD, uniqueEmail } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin, makeUser } from '../helpers/factories.js'
import { failingInTransaction } from '../helpers/failing-repositories.js'
import { metricValue } from '../helpers/metrics.js'
import { codeFrom } from '../helpers/smtp.js'

// Each security event is written in the transaction of its change, with who did it, from
// where and in which request, and never a secret. A change that fails leaves no event.

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const USER_AGENT = 'AuditTest/1.0 (coffee)'
let requests = 0

/** A request from a known client: its user agent and a request id of its own. */
async function send(
  method: 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const requestId = `audit-${++requests}-${Date.now()}`
  const response = await t.app.inject({
    method,
    url,
    payload,
    headers: { 'user-agent': USER_AGENT, 'x-request-id': requestId, ...headers },
  })
  return { response, requestId }
}

/** The events of `type` about `userId` (null: about no account), oldest first. */
async function eventsOf(type: AuditEventType, userId: string | null): Promise<AuditEventRow[]> {
  const about = userId === null ? isNull(auditEvents.userId) : eq(auditEvents.userId, userId)
  return t.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.type, type), about))
    .orderBy(auditEvents.at, auditEvents.id)
}

/** The single event of `type` about `userId`; fails when there is none or more than one. */
async function onlyEvent(type: AuditEventType, userId: string | null) {
  const rows = await eventsOf(type, userId)
  expect(rows, `${type} events`).toHaveLength(1)
  return rows[0] as AuditEventRow
}

/** No secret of the flow anywhere in the row: not in details, not in any column. */
function expectNoSecrets(row: AuditEventRow, secrets: string[]) {
  const text = JSON.stringify(row)
  for (const secret of secrets) expect(text).not.toContain(secret)
}

/** Signs up and verifies through the API; the code is read from the e-mail. */
async function signedUpAndVerified(email = uniqueEmail()) {
  const signup = await send('POST', '/auth/signup', { email, password: PASSWORD })
  expect(signup.response.statusCode).toBe(201)
  const id = signup.response.json().id as string
  const code = codeFrom(await t.inbox.waitForMessage(email))
  const verify = await send('POST', '/auth/verify', { email, code })
  expect(verify.response.statusCode).toBe(200)
  return { id, email, code, signup, verify }
}

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

describe('events of user management', () => {
  it('own password change: password.changed only, no value anywhere', async () => {
    const user = await makeUser(t)
    const newPassword = 'flat-white-changed-9'
    const { response, requestId } = await send(
      'PATCH',
      `/users/${user.id}`,
      { password: newPassword, current_password: user.password },
      await authHeaders(t, user),
    )
    expect(response.statusCode).toBe(200)

    const row = await onlyEvent('password.changed', user.id)
    expect(row).toMatchObject({ actorId: user.id, userId: user.id, requestId })
    expectNoSecrets(row, [newPassword, user.password, user.passwordHash])
    expect(await eventsOf('user.updated', user.id)).toEqual([])
  })

  it('an admin update names the fields that changed, not their values', async () => {
    const admin = await makeAdmin(t)
    const user = await makeUser(t, { fullName: 'Same Name' })
    const newEmail = uniqueEmail('renamed')
    const { response, requestId } = await send(
      'PATCH',
      `/users/${user.id}`,
      { full_name: 'Same Name', email: newEmail, role: 'admin', is_active: true },
      await authHeaders(t, admin),
    )
    expect(response.statusCode).toBe(200)

    const row = await onlyEvent('user.updated', user.id)
    expect(row).toMatchObject({
      actorId: admin.id,
      userId: user.id,
      requestId,
      details: { fields: ['email', 'role'] },
    })
    expectNoSecrets(row, [newEmail])
  })

  it('a patch that changes nothing records nothing', async () => {
    const user = await makeUser(t, { fullName: 'Unchanged' })
    const { response } = await send(
      'PATCH',
      `/users/${user.id}`,
      { full_name: 'Unchanged' },
      await authHeaders(t, user),
    )
    expect(response.statusCode).toBe(200)
    expect(await eventsOf('user.updated', user.id)).toEqual([])
  })

  it('deletion by an admin: the event outlives the account', async () => {
    const admin = await makeAdmin(t)
    const user = await makeUser(t)
    const { response, requestId } = await send(
      'DELETE',
      `/users/${user.id}`,
      undefined,
      await authHeaders(t, admin),
    )
    expect(response.statusCode).toBe(204)
    expect(await onlyEvent('user.deleted', user.id)).toMatchObject({
      actorId: admin.id,
      requestId,
      ip: '127.0.0.1',
    })
  })

  it('a long User-Agent is cut; an empty one is null', async () => {
    const user = await makeUser(t)
    const long = `Agent/${'x'.repeat(2 * MAX_USER_AGENT_LENGTH)}`
    const headers = { ...(await authHeaders(t, user)), 'user-agent': long }
    await send('PATCH', `/users/${user.id}`, { full_name: 'First' }, headers)
    const response = await t.app.inject({
      method: 'PATCH',
      url: `/users/${user.id}`,
      payload: { full_name: 'Second' },
      // light-my-request sends its own User-Agent unless told; an empty one is none.
      headers: { ...(await authHeaders(t, user)), 'user-agent': '' },
    })
    expect(response.statusCode).toBe(200)
    const [first, second] = await eventsOf('user.updated', user.id)
    expect(first?.userAgent).toBe(long.slice(0, MAX_USER_AGENT_LENGTH))
    expect(second?.userAgent).toBeNull()
    // Without X-Request-Id, the id the app made and answered with.
    expect(second?.requestId).toBe(response.headers['x-request-id'])
  })
})

describe('admins made by the operator', () => {
  it('create-admin records the account made, or the promotion and the new password', async () => {
    const password = 'operator-chosen-pass-1'
    const made = await t.services.users.createOrPromoteAdmin(uniqueEmail('boss'), password)
    expect(made.action).toBe('created')
    expect(await onlyEvent('user.signed_up', made.user.id)).toMatchObject({
      actorId: null,
      ip: null,
      details: { source: 'create_admin' },
    })

    const user = await makeUser(t)
    const promoted = await t.services.users.createOrPromoteAdmin(user.email, password)
    expect(promoted.action).toBe('promoted')
    expect(await onlyEvent('user.updated', user.id)).toMatchObject({
      actorId: null,
      details: { fields: ['role'], source: 'create_admin' },
    })
    const changed = await onlyEvent('password.changed', user.id)
    expect(changed.actorId).toBeNull()
    expectNoSecrets(changed, [password])
  })
})

describe('signing-key events', () => {
  it('rotation and revocation from the CLI or scheduler have no actor', async () => {
    const rotation = await t.services.signingKeys.rotate()
    const revocation = await t.services.signingKeys.revoke(rotation.next)
    expect(revocation.status).toBe('revoked')

    const rotated = (await eventsOf('signing_key.rotated', null)).filter(
      (row) => row.details.current === rotation.current,
    )
    expect(rotated).toHaveLength(1)
    expect(rotated[0]).toMatchObject({
      actorId: null,
      ip: null,
      requestId: null,
      details: { reason: 'manual', next: rotation.next, retired: rotation.retired },
    })
    const revoked = (await eventsOf('signing_key.revoked', null)).filter(
      (row) => row.details.kid === rotation.next,
    )
    expect(revoked).toHaveLength(1)
    expect(revoked[0]).toMatchObject({ actorId: null, details: { previous_state: 'next' } })
  })
})

/** These tests fail before any e-mail would go out. */
const noMail: Mailer = { send: async () => {}, dispatch: () => {}, close: async () => {} }

const servicesOver = (repositories: Repositories, metrics = createMetrics()) =>
  createServices({
    config: t.config,
    database: t.database,
    mailer: noMail,
    clock: t.clock,
    repositories,
    metrics,
  })

describe('audit_events_total', () => {
  const signedUp = async (metrics: ReturnType<typeof createMetrics>) =>
    (await metrics.auditEvents.get()).values.find((v) => v.labels.type === 'user.signed_up')
      ?.value ?? 0

  it('counts each committed event by type in /metrics', async () => {
    const labels = { type: 'user.signed_up' }
    const before = await metricValue(t, 'audit_events_total', labels)
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/signup',
      payload: { email: uniqueEmail(), password: PASSWORD },
    })
    expect(response.statusCode).toBe(201)
    expect(await metricValue(t, 'audit_events_total', labels)).toBe(before + 1)
  })

  it('never counts an event whose transaction rolled back', async () => {
    const metrics = createMetrics()
    const injected = failingInTransaction(createRepositories(t.db), 'auditEvents', 'insert', 1, {
      after: true,
    })
    const failing = servicesOver(injected.repositories, metrics)
    await expect(failing.auth.signup({ email: uniqueEmail(), password: PASSWORD })).rejects.toBe(
      injected.failure,
    )
    expect(await signedUp(metrics)).toBe(0)
    await servicesOver(createRepositories(t.db), metrics).auth.signup({
      email: uniqueEmail(),
      password: PASSWORD,
    })
    expect(await signedUp(metrics)).toBe(1)
  })
})

describe('an event and its change commit together', () => {
  const failingAfterEvent = () =>
    failingInTransaction(createRepositories(t.db), 'auditEvents', 'insert', 1, { after: true })

  it('a sign-up that fails after its event was written leaves neither', async () => {
    const signUps = async () => {
      const [row] = await t.db
        .select({ n: count() })
        .from(auditEvents)
        .where(eq(auditEvents.type, 'user.signed_up'))
      return row?.n
    }
    const before = await signUps()
    const email = uniqueEmail()
    const injected = failingAfterEvent()
    const { auth } = servicesOver(injected.repositories)
    await expect(auth.signup({ email, password: PASSWORD })).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(1)
    expect(await createRepositories(t.db).users.findByEmail(email)).toBeUndefined()
    expect(await signUps()).toBe(before)
  })

  it('a deletion that fails after its event was written keeps the user and has no event', async () => {
    const user = await makeUser(t)
    const injected = failingAfterEvent()
    const { users } = servicesOver(injected.repositories)
    await expect(users.deleteUser(user.id)).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(1)
    expect(await createRepositories(t.db).users.findById(user.id)).toBeDefined()
    expect(await eventsOf('user.deleted', user.id)).toEqual([])
  })

  it('a password change that fails after its events keeps the old password and no event', async () => {
    const user = await makeUser(t)
    // The second event (password.changed) is written, then the transaction fails.
    const injected = failingInTransaction(createRepositories(t.db), 'auditEvents', 'insert', 2, {
      after: true,
    })
    const { users } = servicesOver(injected.repositories)
    const patch = { fullName: 'New Name', password: 'macchiato-new-pass-3' }
    await expect(users.updateUser(await makeAdmin(t), user.id, patch, unthrottled)).rejects.toBe(
      injected.failure,
    )
    expect(injected.calls()).toBe(2)
    expect(await eventsOf('user.updated', user.id)).toEqual([])
    expect(await eventsOf('password.changed', user.id)).toEqual([])
    const login = await send('POST', '/auth/login', { email: user.email, password: user.password })
    expect(login.response.statusCode).toBe(200)
  })

  it('the table refuses updates: events are append-only', async () => {
    const user = await makeUser(t)
    await send('PATCH', `/users/${user.id}`, { full_name: 'Appended' }, await authHeaders(t, user))
    const row = await onlyEvent('user.updated', user.id)
    await expect(
      t.db.update(auditEvents).set({ type: 'user.deleted' }).where(eq(auditEvents.id, row.id)),
    ).rejects.toThrow()
    expect((await onlyEvent('user.updated', user.id)).id).toBe(row.id)
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

describe('retention', () => {
  // Last in the file: it moves the shared clock a year on.
  it('the cleanup purges events older than AUDIT_RETENTION, and only those', async () => {
    const user = await makeUser(t)
    await send('PATCH', `/users/${user.id}`, { full_name: 'Old news' }, await authHeaders(t, user))
    const old = await onlyEvent('user.updated', user.id)

    t.clock.advance(t.config.auditRetentionMs - 60_000)
    await send('PATCH', `/users/${user.id}`, { full_name: 'Fresh' }, await authHeaders(t, user))
    const cleanup = () =>
      runCleanup({ repositories: createRepositories(t.db), config: t.config, clock: t.clock })
    // Just within the retention: both stay.
    expect((await eventsOf('user.updated', user.id)).map((row) => row.id)).toHaveLength(2)
    await cleanup()
    expect(await eventsOf('user.updated', user.id)).toHaveLength(2)

    t.clock.advance(60_000 + 1)
    // Every event past the retention goes, this file's earlier ones too: count them first.
    const cutoff = new Date(t.clock.now().getTime() - t.config.auditRetentionMs)
    const [due] = await t.db
      .select({ n: count() })
      .from(auditEvents)
      .where(lt(auditEvents.at, cutoff))
    const result = await cleanup()
    expect(result.counts.auditEvents).toBe(due?.n)
    const left = await eventsOf('user.updated', user.id)
    expect(left).toHaveLength(1)
    expect(left[0]?.id).not.toBe(old.id)
    expect(left[0]?.at.getTime()).toBeGreaterThan(old.at.getTime())
  })
})
