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
export const invalidCode = { detail: 'Invalid or expired code', code: 'invalid_code' }
