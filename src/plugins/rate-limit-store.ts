import type { Redis } from 'ioredis'
import type { Clock } from '../core/clock.js'

/** A fixed window that opens with its first hit: how many hits, and when it closes. */
interface WindowCount {
  count: number
  resetAtMs: number
}

/**
 * Counters shared by the request limits and the login throttle; in memory or in Redis.
 *
 * Why not @fastify/rate-limit's own stores (`redis:` option, or its LocalStore): the
 * login throttle needs to take an attempt back (`release`) and forget a client's failures
 * (`reset`), which those stores cannot do, so this store would stay for it anyway; and
 * theirs count real time (Date.now(), Redis PTTL) where these windows follow the app's
 * clock, which the tests move. Measured with app.inject, 32 in flight, against local
 * Redis: theirs and this one (its scripts run by SHA1, as theirs are) answer within each
 * other's noise. Their Redis store fails open with `skipOnError` too, but only with
 * ioredis' offline queue off; with it on, each request waited up to `commandTimeout`
 * (1 s) during an outage, where `ready()` below fails at once.
 */
export interface CounterStore {
  hit(key: string, windowMs: number): Promise<WindowCount>
  /** Takes one hit back from the current window (never below zero). */
  release(key: string, windowMs: number): Promise<void>
  reset(key: string): Promise<void>
}

interface Entry {
  count: number
  startMs: number
}

/**
 * In-process counters. Windows are read from the app's clock (not Date.now()) so tests
 * move time instead of sleeping. Bounded: the oldest keys go first when full.
 */
export function createMemoryCounterStore(clock: Clock, maxKeys = 50_000): CounterStore {
  const entries = new Map<string, Entry>()
  const live = (key: string, windowMs: number, now: number) => {
    const entry = entries.get(key)
    return entry && now - entry.startMs < windowMs && now >= entry.startMs ? entry : undefined
  }
  return {
    async hit(key, windowMs) {
      const now = clock.now().getTime()
      let entry = live(key, windowMs, now)
      if (entry) entry.count += 1
      else {
        entry = { count: 1, startMs: now }
        entries.delete(key)
        if (entries.size >= maxKeys) entries.delete(entries.keys().next().value as string)
        entries.set(key, entry)
      }
      return { count: entry.count, resetAtMs: entry.startMs + windowMs }
    },
    async release(key, windowMs) {
      const entry = live(key, windowMs, clock.now().getTime())
      if (entry && entry.count > 0) entry.count -= 1
    },
    async reset(key) {
      entries.delete(key)
    },
  }
}

/**
 * One atomic step per hit, so several API instances share one window. The window start is
 * the caller's clock; the Redis expiry only garbage-collects finished windows.
 */
const HIT_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local fields = redis.call('HMGET', KEYS[1], 'start', 'count')
local start = tonumber(fields[1])
if start == nil or now - start >= window or now < start then
  redis.call('HSET', KEYS[1], 'start', now, 'count', 1)
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, now}
end
return {redis.call('HINCRBY', KEYS[1], 'count', 1), start}
`

/** A hit taken back, in the window it was made in only; a finished window is left alone. */
const RELEASE_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local fields = redis.call('HMGET', KEYS[1], 'start', 'count')
local start = tonumber(fields[1])
local count = tonumber(fields[2])
if start == nil or now - start >= window or now < start or count == nil or count <= 0 then
  return 0
end
return redis.call('HINCRBY', KEYS[1], 'count', -1)
`

/** The scripts as ioredis commands: run by their SHA1 (EVALSHA), resent only on NOSCRIPT. */
interface CounterCommands {
  counterHit(key: string, nowMs: number, windowMs: number): Promise<[number, number]>
  counterRelease(key: string, nowMs: number, windowMs: number): Promise<number>
}

function withCounterCommands(redis: Redis): Redis & CounterCommands {
  if (!('counterHit' in redis)) {
    redis.defineCommand('counterHit', { numberOfKeys: 1, lua: HIT_SCRIPT })
    redis.defineCommand('counterRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT })
  }
  return redis as Redis & CounterCommands
}

export function createRedisCounterStore(client: Redis, prefix: string, clock: Clock): CounterStore {
  const redis = withCounterCommands(client)
  // While Redis is away, fail at once (the callers fail open) rather than wait out a timeout.
  const ready = () => {
    if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`)
  }
  return {
    async hit(key, windowMs) {
      ready()
      const [count, start] = await redis.counterHit(prefix + key, clock.now().getTime(), windowMs)
      return { count, resetAtMs: Number(start) + windowMs }
    },
    async release(key, windowMs) {
      ready()
      await redis.counterRelease(prefix + key, clock.now().getTime(), windowMs)
    },
    async reset(key) {
      ready()
      await redis.del(prefix + key)
    },
  }
}
