import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import type { TestApp } from './app.js'

export const RATE_LIMITED = { detail: 'Too many requests, try again later', code: 'rate_limited' }
export const INVALID_CREDENTIALS = {
  detail: 'Incorrect email or password',
  code: 'invalid_credentials',
}
/** In CI Redis must be there (vitest.config.ts); locally the default server is tried. */
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Asserts the contract's 429 and returns its Retry-After in seconds (1 to `retryAfterMax`). */
export function expectRateLimited(response: LightMyRequestResponse, retryAfterMax: number): number {
  expect(response.statusCode).toBe(429)
  expect(response.json()).toEqual(RATE_LIMITED)
  const retryAfter = Number(response.headers['retry-after'])
  expect(Number.isInteger(retryAfter)).toBe(true)
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(retryAfter).toBeLessThanOrEqual(retryAfterMax)
  return retryAfter
}

/** A JSON login as it reaches the API from `remoteAddress` (the TCP peer), with extra headers. */
export const loginFrom = (
  t: TestApp,
  remoteAddress: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
) =>
  t.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password },
    remoteAddress,
    headers,
  })
