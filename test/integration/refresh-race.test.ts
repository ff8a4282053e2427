import { and, eq, isNull } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { refreshTokens } from '../../src/db/schema.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { invalidToken, login, postJson, refresh, type Tokens } from '../helpers/auth-flow.js'
import { testServerUrl } from '../helpers/database.js'
import {
  authHeaders,
  type MadeUser,
  makeAdmin,
  makeUser,
  NEW_PASSWORD,
} from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

// A refresh spends its token and inserts the next one in one transaction. Under READ
// COMMITTED, a revocation whose UPDATE started before that transaction committed does not
// see the new token: without a lock on the user row it stays live after a password change.
// The race is a matter of interleaving, so each case runs several rounds (PGlite runs
// transactions one at a time: there the test proves the behaviour, not the lock).

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

// Before the fix, PostgreSQL lost the race within the first few rounds, every run.
const ROUNDS = testServerUrl === null ? 3 : 12
const SESSIONS = 8

const me = (accessToken: string) =>
  t.app.inject({
    method: 'GET',
    url: '/users/me',
    headers: { authorization: `Bearer ${accessToken}` },
  })

/** Refresh tokens of the user that are not revoked (spent ones included: none may remain). */
async function unrevokedTokens(userId: string) {
  return t.db
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))
}

/** What the racing refreshes got: each pair they returned must now be refused entirely. */
async function expectAllRefused(responses: LightMyRequestResponse[]) {
  for (const response of responses.filter((r) => r.statusCode === 200)) {
    const pair: Tokens = response.json()
    const again = await refresh(t, pair.refresh_token)
    expect(again.statusCode).toBe(401)
    expect(again.json()).toEqual(invalidToken)
    expect((await me(pair.access_token)).statusCode).toBe(401)
  }
  for (const response of responses.filter((r) => r.statusCode !== 200)) {
    expect(response.statusCode).toBe(401)
    expect(response.json()).toEqual(invalidToken)
  }
}

/** Starts `request` `ms` milliseconds from now: spreads the refreshes over the change. */
const later = <T>(ms: number, request: () => Promise<T>) =>
  new Promise<T>((resolve, reject) => {
    setTimeout(() => request().then(resolve, reject), ms)
  })

type RevokingChange = (user: MadeUser) => Promise<() => Promise<LightMyRequestResponse>>

/** Prepares the change (the reset code is fetched first), returning the request to race. */
const viaReset: RevokingChange = async (user) => {
  expect((await postJson(t, '/auth/password/forgot', { email: user.email })).statusCode).toBe(202)
  const code = codeFrom(await t.inbox.waitForMessage(user.email))
  return () =>
    postJson(t, '/auth/password/reset', { email: user.email, code, new_password: NEW_PASSWORD })
}

const viaPatch: RevokingChange = async (user) => {
  const headers = await authHeaders(t, user)
  return () =>
    t.app.inject({
      method: 'PATCH',
      url: `/users/${user.id}`,
      headers,
      payload: { password: NEW_PASSWORD, current_password: user.password },
    })
}

const viaDeactivation: RevokingChange = async (user) => {
  const headers = await authHeaders(t, await makeAdmin(t))
  return () =>
    t.app.inject({
      method: 'PATCH',
      url: `/users/${user.id}`,
      headers,
      payload: { is_active: false },
    })
}

describe('a password change or deactivation racing refreshes', () => {
  it.each([
    ['POST /auth/password/reset', viaReset, 204],
    ['PATCH /users/{id} with a new password', viaPatch, 200],
    ['PATCH /users/{id} deactivating the user', viaDeactivation, 200],
  ] as const)('%s leaves no refresh token live', async (_name, prepare, expected) => {
    // Half-way through a second: an access token from this second must still be refused.
    t.clock.set(new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000 + 500))
    for (let round = 0; round < ROUNDS; round++) {
      const user = await makeUser(t)
      const sessions = await Promise.all(
        Array.from({ length: SESSIONS }, () => login(t, user.email, user.password)),
      )
      const change = await prepare(user)
      const [changed, ...refreshes] = await Promise.all([
        change(),
        ...sessions.map((session, index) =>
          later(index * 5, () => refresh(t, session.refresh_token)),
        ),
      ])
      expect(changed?.statusCode).toBe(expected)
      expect(await unrevokedTokens(user.id)).toEqual([])
      await expectAllRefused(refreshes)
    }
  })
})
