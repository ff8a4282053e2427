import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import type { TestApp } from './app.js'
import { PASSWORD, uniqueEmail } from './factories.js'
import { codeFrom } from './smtp.js'

export { PASSWORD, uniqueEmail } from './factories.js'

export const postJson = (t: TestApp, url: string, payload: unknown) =>
  t.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })

/** Signs up, and returns the id and the code read from the e-mail (the `nth` to `email`). */
export async function signup(t: TestApp, email: string, password = PASSWORD, nth = 1) {
  const response = await postJson(t, '/auth/signup', { email, password })
  expect(response.statusCode).toBe(201)
  const code = codeFrom(await t.inbox.waitForMessage(email, nth))
  return { id: response.json().id as string, code }
}

/** A verified account, ready to log in. */
export async function verifiedUser(t: TestApp, email = uniqueEmail(), password = PASSWORD) {
  const { id, code } = await signup(t, email, password)
  const verified = await postJson(t, '/auth/verify', { email, code })
  expect(verified.statusCode).toBe(200)
  return { id, email, password }
}

export interface Tokens {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

export async function login(t: TestApp, email: string, password = PASSWORD): Promise<Tokens> {
  const response = await postJson(t, '/auth/login', { email, password })
  expect(response.statusCode).toBe(200)
  return response.json()
}

export const refresh = (t: TestApp, refreshToken: string) =>
  postJson(t, '/auth/refresh', { refresh_token: refreshToken })

export const invalidToken = { detail: 'Invalid or expired refresh token', code: 'invalid_token' }
/** A refresh token (or an access token in its place) refused: 401 with the Bearer challenge. */
export function expectRefused(response: LightMyRequestResponse) {
  expect(response.statusCode).toBe(401)
  expect(response.headers['www-authenticate']).toBe('Bearer')
  expect(response.json()).toEqual(invalidToken)
}

/** A verified user and the tokens of a login of theirs. */
export async function freshSession(t: TestApp) {
  const user = await verifiedUser(t)
  return { user, tokens: await login(t, user.email, user.password) }
}

export const invalidCode = { detail: 'Invalid or expired code', code: 'invalid_code' }

/** A six-digit code that is surely not `code`: a wrong guess that cannot hit by chance. */
export const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0')

/**
 * Asks for a code again until the new one differs from `previous` (two in a row match once
 * in a million), so that "the old code is refused" always has an old code to refuse. At most
 * two sends, which stay within the send limit of three codes per 15 minutes.
 */
export async function codeUnlike(previous: string, sendAgain: () => Promise<string>) {
  for (let sends = 0; sends < 2; sends++) {
    const code = await sendAgain()
    if (code !== previous) return code
  }
  throw new Error(`two new codes in a row equal to ${previous}`)
}
