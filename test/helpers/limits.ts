import { randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect } from 'vitest'
import type { Env } from '../../src/core/config.js'
import { createTestApp, type TestApp } from './app.js'

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

/** A Redis key prefix of its own, so that no two test apps share a counter. */
export const redisKeyPrefix = () => `test-${randomBytes(6).toString('hex')}:`

/** Deletes every key under `prefix`, then closes the connection. */
export async function dropRedisKeys(redis: Redis, prefix: string) {
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
}

/**
 * Two instances of the app on one Redis, under a key prefix of their own, with `env`:
 * made before the tests of the calling `describe`, closed (and their keys gone) after them.
 */
export function twoInstancesOnRedis(env: Env) {
  const prefix = redisKeyPrefix()
  const state = { prefix } as { a: TestApp; b: TestApp; redis: Redis; prefix: string }
  beforeAll(async () => {
    state.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
    await state.redis.ping().catch((error: Error) => {
      throw new Error(`Redis is needed at ${redisUrl} (set TEST_REDIS_URL): ${error.message}`)
    })
    const shared = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, ...env }
    state.a = await createTestApp(shared)
    state.b = await createTestApp(shared)
  })
  afterAll(async () => {
    await state.a?.close()
    await state.b?.close()
    await dropRedisKeys(state.redis, prefix)
  })
  return state
}
