import { decodeJwt } from 'jose'
import { expect } from 'vitest'
import type { TestApp } from './app.js'
import { login, refresh, type Tokens, verifiedUser } from './auth-flow.js'

const rejected = { detail: 'Could not validate credentials', code: 'invalid_token' }

export const bearer = (tokens: Tokens | string) => ({
  authorization: `Bearer ${typeof tokens === 'string' ? tokens : tokens.access_token}`,
})
export const sidOf = (tokens: Tokens) => decodeJwt(tokens.access_token).sid as string

export const get = (t: TestApp, url: string, tokens: Tokens) =>
  t.app.inject({ method: 'GET', url, headers: bearer(tokens) })
export const del = (t: TestApp, url: string, tokens: Tokens) =>
  t.app.inject({ method: 'DELETE', url, headers: bearer(tokens) })

/** GET /users/me with the token: SIGNED_IN while its session lives, REFUSED after. */
export async function meAnswer(t: TestApp, tokens: Tokens | string) {
  const response = await t.app.inject({ method: 'GET', url: '/users/me', headers: bearer(tokens) })
  return {
    status: response.statusCode,
    challenge: response.headers['www-authenticate'],
    error: response.statusCode === 200 ? undefined : response.json(),
  }
}
export const SIGNED_IN = { status: 200, challenge: undefined, error: undefined }
export const REFUSED = { status: 401, challenge: 'Bearer', error: rejected }

/** A verified user logged in `count` times, each login a session. */
export async function userWithSessions(t: TestApp, count: number) {
  const user = await verifiedUser(t)
  const sessions: Tokens[] = []
  for (let i = 0; i < count; i++) sessions.push(await login(t, user.email, user.password))
  return { user, sessions }
}

/** The session lives: its access token is accepted and its refresh token works. */
export async function expectAlive(t: TestApp, tokens: Tokens) {
  expect(await meAnswer(t, tokens)).toEqual(SIGNED_IN)
  expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(200)
}
