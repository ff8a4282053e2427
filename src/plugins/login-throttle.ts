import { createHash } from 'node:crypto'
import { isIPv6 } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { tooManyRequests } from '../core/errors.js'
import { emailPseudonym, keysFor } from '../core/keys.js'
import type { LoginThrottle, PasswordAttempt } from '../core/login-throttle.js'
import type { CounterStore } from './rate-limit-store.js'

/** The per-client window of `LOGIN_MAX_FAILURES`. */
const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000

export type LoginThrottleConfig = Pick<
  Config,
  'loginMaxFailures' | 'loginAccountMaxFailures' | 'loginAccountWindowMs' | 'secretKey'
>

interface Limit {
  /** Whose failures it counts: this client's on the account, or everyone's. */
  scope: 'client' | 'account'
  key: string
  max: number
  windowMs: number
  /** What a right password does: forget the client's failures, or take its attempt back. */
  onMatch: 'reset' | 'release'
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = (address.split('%')[0] ?? '').toLowerCase()
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((group) => Number.parseInt(group, 16)) : []
  const [head, rest] = text.split('::')
  const left = parse(head)
  const right = parse(rest)
  return [...left, ...Array(8 - left.length - right.length).fill(0), ...right]
}

/**
 * The client as the request limits key it (@fastify/rate-limit's default): an IPv6 address
 * stands for its /64, since one subscriber usually holds a whole /64; an IPv4-mapped IPv6
 * address is the IPv4 address.
 */
export function clientBlock(address: string): string {
  if (!isIPv6(address)) return address.toLowerCase()
  const groups = ipv6Groups(address)
  const [g6 = 0, g7 = 0] = groups.slice(6)
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff].join('.')
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`
}

/** Hashed, so the store never holds e-mail addresses. */
const hashed = (text: string) => createHash('sha256').update(text).digest('base64url')

/** The limits a password attempt by `client` on the account `email` counts against. */
function loginLimits(config: LoginThrottleConfig, client: string, email: string): Limit[] {
  const limits: Limit[] = []
  if (config.loginMaxFailures > 0) {
    const key = `login:${hashed(`${clientBlock(client)}\n${email}`)}`
    const max = config.loginMaxFailures
    const windowMs = LOGIN_FAILURE_WINDOW_MS
    limits.push({ scope: 'client', key, max, windowMs, onMatch: 'reset' })
  }
  if (config.loginAccountMaxFailures > 0) {
    const key = `login-account:${hashed(email)}`
    const max = config.loginAccountMaxFailures
    const windowMs = config.loginAccountWindowMs
    limits.push({ scope: 'account', key, max, windowMs, onMatch: 'release' })
  }
  return limits
}

/**
 * Binds the login throttle to a client: `LOGIN_MAX_FAILURES` failed logins per client and
 * account in 15 minutes, and `LOGIN_ACCOUNT_MAX_FAILURES` per account from all clients per
 * `LOGIN_ACCOUNT_WINDOW`. A store error lets the attempt through (fail open, logged).
 */
export function createLoginThrottles(
  store: CounterStore,
  clock: Clock,
  config: LoginThrottleConfig,
) {
  // Lock-outs name the account as failed logins do (services/auth.ts): by its pseudonym.
  const keys = keysFor(config.secretKey)
  return (client: string, log: FastifyBaseLogger): LoginThrottle => {
    const tryStore = async <T>(step: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await step()
      } catch (error) {
        log.warn({ err: error }, 'login throttle store unavailable')
        return undefined
      }
    }
    const release = (limit: Limit) => tryStore(() => store.release(limit.key, limit.windowMs))
    const reset = (limit: Limit) => tryStore(() => store.reset(limit.key))

    return {
      async begin(email): Promise<PasswordAttempt> {
        const limits = loginLimits(config, client, email)
        const counted: Limit[] = []
        // The client's own limit first: a client it stops must not spend the account's budget.
        for (const limit of limits) {
          const state = await tryStore(() => store.hit(limit.key, limit.windowMs))
          if (state && state.count > limit.max) {
            await Promise.all(counted.map(release))
            log.warn(
              {
                event: 'login_throttled',
                limit: limit.scope,
                emailHash: emailPseudonym(keys, email),
                clientAddress: client,
              },
              'login throttled',
            )
            throw tooManyRequests((state.resetAtMs - clock.now().getTime()) / 1_000)
          }
          counted.push(limit)
        }
        return {
          async matched() {
            await Promise.all(
              counted.map((limit) => (limit.onMatch === 'reset' ? reset : release)(limit)),
            )
          },
        }
      },
    }
  }
}
