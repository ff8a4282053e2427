import { and, eq, isNull } from 'drizzle-orm'
import { expect } from 'vitest'
import type { AuditEventType } from '../../src/core/audit-events.js'
import { type AuditEventRow, auditEvents } from '../../src/db/schema.js'
import type { TestApp } from './app.js'
import { PASSWORD, uniqueEmail } from './auth-flow.js'
import { codeFrom } from './smtp.js'

/** The user agent of every request `send` makes. */
export const USER_AGENT = 'AuditTest/1.0 (coffee)'

/** No secret of the flow anywhere in the row: not in details, not in any column. */
export function expectNoSecrets(row: AuditEventRow, secrets: string[]) {
  const text = JSON.stringify(row)
  for (const secret of secrets) expect(text).not.toContain(secret)
}

/**
 * What the audit tests do to the test app (read when called, so it can be declared before
 * `beforeAll` makes the app): requests from a known client, and the events they left.
 */
export function auditProbe(app: () => TestApp) {
  let requests = 0

  /** A request from a known client: its user agent and a request id of its own. */
  async function send(
    method: 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) {
    const requestId = `audit-${++requests}-${Date.now()}`
    const response = await app().app.inject({
      method,
      url,
      payload,
      headers: { 'user-agent': USER_AGENT, 'x-request-id': requestId, ...headers },
    })
    return { response, requestId }
  }

  /** The events of `type` about `userId` (null: about no account), oldest first. */
  function eventsOf(type: AuditEventType, userId: string | null): Promise<AuditEventRow[]> {
    const about = userId === null ? isNull(auditEvents.userId) : eq(auditEvents.userId, userId)
    return app()
      .db.select()
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

  /** Signs up and verifies through the API; the code is read from the e-mail. */
  async function signedUpAndVerified(email = uniqueEmail()) {
    const signup = await send('POST', '/auth/signup', { email, password: PASSWORD })
    expect(signup.response.statusCode).toBe(201)
    const id = signup.response.json().id as string
    const code = codeFrom(await app().inbox.waitForMessage(email))
    const verify = await send('POST', '/auth/verify', { email, code })
    expect(verify.response.statusCode).toBe(200)
    return { id, email, code, signup, verify }
  }

  return { send, eventsOf, onlyEvent, signedUpAndVerified }
}
