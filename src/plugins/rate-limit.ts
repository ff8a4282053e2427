import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { Redis } from 'ioredis'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { tooManyRequests } from '../core/errors.js'
import { type LoginThrottle, unthrottled } from '../core/login-throttle.js'
import { createLoginThrottles, type LoginThrottleConfig } from './login-throttle.js'
import {
  type CounterStore,
  createMemoryCounterStore,
  createRedisCounterStore,
} from './rate-limit-store.js'
import { unversioned } from './versioning.js'

/**
 * Which request limit a route is under, declared in its `config` (`requestLimit`) rather
 * than looked up by URL, so renaming or adding a route cannot silently drop a limit.
 */
type RequestLimit =
  /**
   * `AUTH_RATE_LIMIT_MAX` per window, each route its own budget: what an attacker hammers
   * (account creation, password and code guessing, mail bombing).
   */
  | 'strict'
  /** `RATE_LIMIT_MAX` per window, one budget shared by every route: the default. */
  | 'default'
  /** Never limited: probes from load balancers and orchestrators. */
  | 'none'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's request limit; `default` when absent. */
    requestLimit?: RequestLimit
  }
}

export type RateLimitConfig = LoginThrottleConfig &
  Pick<
    Config,
    'rateLimitMax' | 'rateLimitWindowMs' | 'authRateLimitMax' | 'redisUrl' | 'redisKeyPrefix'
  >

/** The login throttle bound to the client of a request (services report the outcomes). */
export type LoginThrottleFor = (request: FastifyRequest) => LoginThrottle

/**
 * Per-client request limits (`RATE_LIMIT_MAX` per `RATE_LIMIT_WINDOW`, stricter
 * `AUTH_RATE_LIMIT_MAX` on the routes declaring `requestLimit: 'strict'`), and the counters
 * of the login throttle (plugins/login-throttle.ts), returned for the routes that check
 * passwords.
 * Counters live in Redis when `REDIS_URL` is set, so instances share them.
 * Must be registered before the routes: it works through an onRoute hook.
 */
export async function registerRateLimits(
  app: FastifyInstance,
  { config, clock }: { config: RateLimitConfig; clock: Clock },
): Promise<LoginThrottleFor> {
  const throttled = config.loginMaxFailures > 0 || config.loginAccountMaxFailures > 0
  if (config.rateLimitMax === 0 && !throttled) return () => unthrottled
  const store = await openStore(app, config, clock)
  const throttles = createLoginThrottles(store, clock, config)
  const loginThrottleFor: LoginThrottleFor = throttled
    ? (request) => throttles(request.ip, request.log)
    : () => unthrottled
  if (config.rateLimitMax === 0) return loginThrottleFor

  const strict = config.authRateLimitMax > 0
  app.addHook('onRoute', (route) => {
    const requestLimit = route.config?.requestLimit ?? 'default'
    if (requestLimit === 'none') setRateLimit(route, false)
    else if (requestLimit === 'strict' && strict) {
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
  return loginThrottleFor
}

function setRateLimit(route: RouteOptions, value: { max: number; timeWindow: number } | false) {
  // A @fastify/rate-limit setting the route declares itself wins over its class.
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
    // Keyed by the unversioned pattern: /v1/x and its alias /x share one budget.
    child: (route: { routeInfo: { method: string | string[]; url: string } }) =>
      forPrefix(`${prefix}${String(route.routeInfo.method)}${unversioned(route.routeInfo.url)}:`),
  })
  return function RateLimitStore() {
    return forPrefix('global:')
  } as unknown as FastifyRateLimitStoreCtor
}
