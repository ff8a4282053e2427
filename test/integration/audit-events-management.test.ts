import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_USER_AGENT_LENGTH } from '../../src/core/request-context.js'
import { auditEvents } from '../../src/db/schema.js'
import { createMetrics } from '../../src/metrics.js'
import { createRepositories } from '../../src/repositories/index.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { auditProbe, expectNoSecrets } from '../helpers/audit.js'
import { PASSWORD, uniqueEmail } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin, makeUser } from '../helpers/factories.js'
import { failingInTransaction, servicesOver } from '../helpers/failing-repositories.js'
import { metricValue } from '../helpers/metrics.js'

// The events of managing accounts and keys: by the user, by an admin, by the operator's
// CLI and by the scheduler; each with who did it and never a secret. The account flows'
// events are in audit-events.test.ts.

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const { send, eventsOf, onlyEvent } = auditProbe(() => t)

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

describe('counting events in /metrics (audit_events_total)', () => {
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
    const failing = servicesOver(t, injected.repositories, metrics)
    await expect(failing.auth.signup({ email: uniqueEmail(), password: PASSWORD })).rejects.toBe(
      injected.failure,
    )
    expect(await signedUp(metrics)).toBe(0)
    await servicesOver(t, createRepositories(t.db), metrics).auth.signup({
      email: uniqueEmail(),
      password: PASSWORD,
    })
    expect(await signedUp(metrics)).toBe(1)
  })
})

describe('the audit log itself', () => {
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
