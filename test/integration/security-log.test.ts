import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailPseudonym, keysFor } from '../../src/core/keys.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import { login, postJson, refresh, type Tokens, uniqueEmail } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin, makeUser } from '../helpers/factories.js'

/**
 * What the production logger (core/logger.ts, JSON) writes while an attacker and a few
 * users go about their business: no query value, e-mail, password or token, and security
 * events that name the user or a pseudonym of the e-mail, the client and the request.
 */
const lines: string[] = []
const destination = new Writable({
  write(chunk, _encoding, done) {
    lines.push(String(chunk))
    done()
  },
})
const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
const eventsOf = (event: string) => records().filter((record) => record.event === event)

let t: TestApp
beforeAll(async () => {
  t = await createTestApp(
    { LOG_LEVEL: 'info', LOGIN_MAX_FAILURES: '3' },
    { logDestination: destination },
  )
})
afterAll(() => t.close())

const pseudonym = (email: string) => emailPseudonym(keysFor(TEST_SECRET), email)

describe('request lines', () => {
  it('show the path and the query parameter names, never their values', async () => {
    const user = await makeUser(t)
    const { access_token } = await login(t, user.email, user.password)
    const admin = await makeAdmin(t)
    const headers = await authHeaders(t, admin)
    await t.app.inject({ url: `/users/me?access_token=${access_token}` })
    await t.app.inject({ url: `/users/me?${access_token}` })
    await t.app.inject({ url: `/users?q=${encodeURIComponent(user.email)}&limit=5`, headers })

    const urls = records().flatMap((record) => {
      const req = record.req as { url?: string } | undefined
      return req?.url ? [req.url] : []
    })
    expect(urls).toEqual(
      expect.arrayContaining([
        '/users/me?access_token=[redacted]',
        '/users/me?[redacted]',
        '/users?q=[redacted]&limit=[redacted]',
      ]),
    )
    const text = lines.join('')
    expect(text).not.toContain(access_token)
    expect(text).not.toContain(user.email)
    expect(text).not.toContain(encodeURIComponent(user.email))
    expect(text).not.toContain(user.password)
  })
})

describe('security events', () => {
  it('log a failed login with the user id, the e-mail pseudonym, the client and the request', async () => {
    const user = await makeUser(t)
    const response = await postJson(t, '/auth/login', { email: user.email, password: 'wrong one' })
    expect(response.statusCode).toBe(401)
    const [event] = eventsOf('login_failed').filter((record) => record.userId === user.id)
    expect(event).toMatchObject({
      level: 40,
      msg: 'login failed',
      userId: user.id,
      emailHash: pseudonym(user.email),
      clientAddress: '127.0.0.1',
      reqId: response.headers['x-request-id'],
    })
    expect(lines.join('')).not.toContain(user.email)
  })

  it('log a failed login of an unknown address by its pseudonym only, then the lock-out', async () => {
    const email = uniqueEmail('nobody')
    const answers: number[] = []
    let lastRequestId: unknown
    for (let i = 0; i < 4; i++) {
      const response = await postJson(t, '/auth/login', { email, password: `guess ${i}` })
      answers.push(response.statusCode)
      lastRequestId = response.headers['x-request-id']
    }
    expect(answers).toEqual([401, 401, 401, 429])
    const failures = eventsOf('login_failed').filter((r) => r.emailHash === pseudonym(email))
    expect(failures).toHaveLength(3)
    for (const failure of failures) expect(failure.userId).toBeUndefined()
    expect(eventsOf('login_throttled')).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'login throttled',
        emailHash: pseudonym(email),
        clientAddress: '127.0.0.1',
        reqId: lastRequestId,
      }),
    ])
    const text = lines.join('')
    expect(text).not.toContain(email)
    expect(text).not.toContain('guess ')
  })

  it('log refresh-token reuse with the user, the client and the request, never the token', async () => {
    const user = await makeUser(t)
    const tokens = await login(t, user.email, user.password)
    const next: Tokens = (await refresh(t, tokens.refresh_token)).json()
    t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
    const replay = await refresh(t, tokens.refresh_token)
    expect(replay.statusCode).toBe(401)
    expect(eventsOf('refresh_token_reuse')).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'refresh token reuse detected',
        userId: user.id,
        clientAddress: '127.0.0.1',
        reqId: replay.headers['x-request-id'],
      }),
    ])
    const text = lines.join('')
    for (const secret of [tokens.refresh_token, next.refresh_token, next.access_token]) {
      expect(text).not.toContain(secret)
    }
  })
})
