import { createHash } from 'node:crypto'
import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { Redis } from 'ioredis'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { tooManyRequests } from '../core/errors.js'
import {
  type CounterStore,
  createMemoryCounterStore,
  createRedisCounterStore,
} from './rate-limit-store.js'

/** The routes an attacker hammers: account creation, password guessing, mail bombing. */
export const SENSITIVE_ROUTES = [
  '/auth/signup',
  '/auth/login',
  '/auth/verify/resend',
  '/auth/password/forgot',
]
/** Probes from load balancers and orchestrators must never be throttled. */
const EXEMPT_PREFIX = '/health/'
const LOGIN_ROUTE = '/auth/login'
export const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000

export type RateLimitConfig = Pick<
  Config,
  | 'rateLimitMax'
  | 'rateLimitWindowMs'
  | 'authRateLimitMax'
  | 'loginMaxFailures'
  | 'redisUrl'
  | 'redisKeyPrefix'
>

/**
 * Per-client request limits (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW`, stricter
 * `AUTH_RATE_LIMIT_MAX` on the sensitive routes) and the login throttle
 * (`LOGIN_MAX_FAILURES` failed logins per e-mail and client in 15 minutes).
 * Counters live in Redis when `REDIS_URL` is set, so instances share them.
 * Must be registered before the routes: it works through an onRoute hook.
 */
export async function registerRateLimits(
  app: FastifyInstance,
  { config, clock }: { config: RateLimitConfig; clock: Clock },
) {
  if (config.rateLimitMax === 0 && config.loginMaxFailures === 0) return
  const store = await openStore(app, config, clock)

  if (config.loginMaxFailures > 0) addLoginThrottle(app, store, clock, config.loginMaxFailures)
  if (config.rateLimitMax === 0) return

  app.addHook('onRoute', (route) => {
    if (route.url.startsWith(EXEMPT_PREFIX)) setRateLimit(route, false)
    else if (config.authRateLimitMax > 0 && isSensitive(route)) {
      setRateLimit(route, { max: config.authRateLimitMax, timeWindow: config.rateLimitWindowMs })
    }
  })
  await app.register(rateLimit, {
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    store: storeAdapter(store, clock),
    // Fail open: an unreachable Redis must not take the API down with it.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => tooManyRequests(context.ttl / 1_000),
  })
}

const isSensitive = (route: RouteOptions) =>
  SENSITIVE_ROUTES.includes(route.url) &&
  (route.method === 'POST' || (Array.isArray(route.method) && route.method.includes('POST')))

function setRateLimit(route: RouteOptions, value: { max: number; timeWindow: number } | false) {
  // A limit the route declares itself wins over the one set here by URL.
  if (route.config?.rateLimit !== undefined) return
  route.config = { ...route.config, rateLimit: value }
}

async function openStore(app: FastifyInstance, config: RateLimitConfig, clock: Clock) {
  if (config.redisUrl === null) return createMemoryCounterStore(clock)
  // Loaded only when used: ioredis holds about 7 MB of RSS in every process that imports it.
  const { Redis } = await import('ioredis')
  const redis = new Redis(config.redisUrl, {
    // Answer within a second during a Redis outage (then fail open) instead of queueing.
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectTimeout: 2_000,
  })
  redis.on('error', (error: Error) => app.log.warn({ err: error }, 'redis unavailable'))
  // Start with a connection when Redis answers soon; never refuse to start without it.
  await waitUntilReady(redis, 2_000).catch((error: Error) =>
    app.log.warn({ err: error }, 'redis not ready yet: limits are off until it connects'),
  )
  app.addHook('onClose', async () => {
    await redis.quit().catch(() => redis.disconnect())
  })
  return createRedisCounterStore(redis, `${config.redisKeyPrefix}rl:`, clock)
}

function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady)
      reject(new Error(`no connection within ${timeoutMs}ms`))
    }, timeoutMs)
    const onReady = () => {
      clearTimeout(timer)
      resolve()
    }
    redis.once('ready', onReady)
  })
}

/**
 * @fastify/rate-limit calls `new store(options)`, then `child(route)` for each route with its
 * own limit; a constructor returning an object yields that object. Same counters as the
 * login throttle, and the same clock.
 */
function storeAdapter(store: CounterStore, clock: Clock): FastifyRateLimitStoreCtor {
  const forPrefix = (prefix: string) => ({
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ) {
      store.hit(prefix + key, timeWindow).then(
        ({ count, resetAtMs }) =>
          callback(null, { current: count, ttl: Math.max(0, resetAtMs - clock.now().getTime()) }),
        (error: Error) => callback(error),
      )
    },
    child: (route: { routeInfo: { method: string | string[]; url: string } }) =>
      forPrefix(`${prefix}${String(route.routeInfo.method)}${route.routeInfo.url}:`),
  })
  return function RateLimitStore() {
    return forPrefix('global:')
  } as unknown as FastifyRateLimitStoreCtor
}

/** The e-mail of a login attempt: JSON `email`, or the OAuth2 form's `username`. */
function loginEmail(request: FastifyRequest): string | null {
  const body = request.body as { email?: unknown; username?: unknown } | undefined
  const email = body?.email ?? body?.username
  return typeof email === 'string' ? email.trim().toLowerCase() : null
}

/** Hashed, so the store never holds e-mail addresses. */
const loginKey = (request: FastifyRequest, email: string) =>
  `login:${createHash('sha256').update(`${request.ip}\n${email}`).digest('base64url')}`

function addLoginThrottle(
  app: FastifyInstance,
  store: CounterStore,
  clock: Clock,
  maxFailures: number,
) {
  const tryStore = async <T>(request: FastifyRequest, step: () => Promise<T>) => {
    try {
      return await step()
    } catch (error) {
      request.log.warn({ err: error }, 'login throttle store unavailable')
      return undefined
    }
  }
  app.addHook('onRoute', (route) => {
    if (route.url !== LOGIN_ROUTE || !isSensitive(route)) return
    const preHandler = async (request: FastifyRequest) => {
      const email = loginEmail(request)
      if (email === null) return
      const state = await tryStore(request, () =>
        store.peek(loginKey(request, email), LOGIN_FAILURE_WINDOW_MS),
      )
      if (state && state.count >= maxFailures) {
        throw tooManyRequests((state.resetAtMs - clock.now().getTime()) / 1_000)
      }
    }
    const onSend = async (
      request: FastifyRequest,
      reply: { statusCode: number },
      payload: unknown,
    ) => {
      const email = loginEmail(request)
      if (email === null) return payload
      const key = loginKey(request, email)
      if (reply.statusCode === 200) await tryStore(request, () => store.reset(key))
      // Only a wrong e-mail or password counts; 403s and 429s do not.
      else if (reply.statusCode === 401 && String(payload).includes('"invalid_credentials"')) {
        await tryStore(request, () => store.hit(key, LOGIN_FAILURE_WINDOW_MS))
      }
      return payload
    }
    route.preHandler = [preHandler, ...toArray(route.preHandler)] as RouteOptions['preHandler']
    route.onSend = [...toArray(route.onSend), onSend] as RouteOptions['onSend']
  })
}

const toArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]
