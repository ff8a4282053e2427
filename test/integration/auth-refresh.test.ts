import { and, eq, isNull } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { refreshTokens } from '../../src/db/schema.js'
import { createMailer } from '../../src/mailer.js'
import { createServices } from '../../src/services/index.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  expectRefused,
  freshSession,
  invalidToken,
  login,
  postJson,
  refresh,
  type Tokens,
} from '../helpers/auth-flow.js'
import { testServerUrl } from '../helpers/database.js'
import {
  authHeaders,
  type MadeUser,
  makeAdmin,
  makeUser,
  NEW_PASSWORD,
} from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

// Refreshing a token pair and logging out; then the races. A refresh spends its token and
// inserts the next one in one transaction. Under READ
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

describe('refreshing a token pair', () => {
  it('spends the token and returns a new, uncacheable pair', async () => {
    const { user, tokens } = await freshSession(t)
    const response = await refresh(t, tokens.refresh_token)
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.headers.pragma).toBe('no-cache')
    const next: Tokens = response.json()
    expect(next).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 900,
    })
    expect(next.refresh_token).not.toBe(tokens.refresh_token)
    expect((await me(next.access_token)).json().id).toBe(user.id)
  })

  it('refuses a spent token within the grace without revoking the login', async () => {
    const { tokens } = await freshSession(t)
    const next: Tokens = (await refresh(t, tokens.refresh_token)).json()
    t.clock.advance(t.config.refreshReuseGraceMs - 1_000)
    expectRefused(await refresh(t, tokens.refresh_token))
    expect((await refresh(t, next.refresh_token)).statusCode).toBe(200)
  })

  it('revokes the whole login when a spent token comes back after the grace', async () => {
    const { user, tokens } = await freshSession(t)
    const other = await login(t, user.email, user.password)
    const next: Tokens = (await refresh(t, tokens.refresh_token)).json()
    t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
    expectRefused(await refresh(t, tokens.refresh_token))
    expectRefused(await refresh(t, next.refresh_token))
    // Another login of the same user is a different family and survives.
    expect((await refresh(t, other.refresh_token)).statusCode).toBe(200)
  })

  it('logs the reuse with the user and family, never the token', async () => {
    const lines: string[] = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) })
    const mailer = createMailer({ smtpUrl: null, mailFrom: t.config.mailFrom, logger })
    const { auth, keyStore } = createServices({
      config: t.config,
      database: t.database,
      mailer,
      clock: t.clock,
      logger,
    })
    await keyStore.reload()
    const { user, tokens } = await freshSession(t)
    await auth.refresh(tokens.refresh_token)
    t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
    await expect(auth.refresh(tokens.refresh_token)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
    })
    expect(lines).toHaveLength(1)
    const entry = JSON.parse(lines[0] as string)
    expect(entry).toMatchObject({
      level: 40,
      msg: 'refresh token reuse detected',
      userId: user.id,
      familyId: expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
    })
    expect(lines[0]).not.toContain(tokens.refresh_token)
  })

  it('gives exactly one of ten concurrent refreshes of one token a new pair', async () => {
    const { tokens } = await freshSession(t)
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => refresh(t, tokens.refresh_token)),
    )
    const winners = responses.filter((response) => response.statusCode === 200)
    expect(winners).toHaveLength(1)
    for (const loser of responses.filter((response) => response.statusCode !== 200)) {
      expectRefused(loser)
    }
    // The losers were within the grace: the winner's login is intact.
    expect((await refresh(t, winners[0]?.json().refresh_token)).statusCode).toBe(200)
  })

  it('refuses unknown and expired tokens', async () => {
    expectRefused(await refresh(t, 'not-a-token-we-issued'))
    const { tokens } = await freshSession(t)
    t.clock.advance(t.config.refreshTokenTtlMs + 1_000)
    expectRefused(await refresh(t, tokens.refresh_token))
  })

  it('refuses a missing or empty token: 422', async () => {
    for (const payload of [{}, { refresh_token: '' }, { refresh_token: 42 }]) {
      const response = await postJson(t, '/auth/refresh', payload)
      expect(response.statusCode).toBe(422)
      expect(response.json()).toMatchObject({
        code: 'validation_error',
        detail: [{ loc: ['body', 'refresh_token'] }],
      })
    }
  })
})

describe('logging out', () => {
  it('revokes the login, so neither its token nor earlier ones refresh', async () => {
    const { user, tokens } = await freshSession(t)
    const other = await login(t, user.email, user.password)
    const next: Tokens = (await refresh(t, tokens.refresh_token)).json()
    const response = await postJson(t, '/auth/logout', { refresh_token: next.refresh_token })
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    expectRefused(await refresh(t, next.refresh_token))
    expectRefused(await postJson(t, '/auth/logout', { refresh_token: next.refresh_token }))
    expect((await refresh(t, other.refresh_token)).statusCode).toBe(200)
  })

  it('refuses an unknown token: 401 invalid_token', async () => {
    const response = await postJson(t, '/auth/logout', { refresh_token: 'never-issued' })
    expectRefused(response)
  })
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
