import { isIP, isIPv4 } from 'node:net'
import { resolve } from 'node:path'
import { checkEmail, checkPassword, normaliseEmail } from '../credentials.js'

/** What a parser makes of a variable's text: its value, or why the value is refused. */
export type Verdict<T> = { value: T } | { refused: string }
/** Turns the text of a set variable (trimmed, never empty) into its value. */
export type Parser<T> = (text: string) => Verdict<T>

const accept = <T>(value: T): Verdict<T> => ({ value })
const refuse = (reason: string): { refused: string } => ({ refused: reason })

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** Parses `500ms`, `30s`, `15m`, `12h`, `2d` into milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim())
  if (!match) return null
  const [, amount, unit] = match as unknown as [string, string, keyof typeof DURATION_UNITS_MS]
  return Number(amount) * DURATION_UNITS_MS[unit]
}

/** Any text, as set. */
export const text: Parser<string> = accept

/** A path, made absolute against the working directory at start. */
export const path: Parser<string> = (value) => accept(resolve(value))

export function integer(min: number, max: number): Parser<number> {
  return (value) => {
    const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      return refuse(`must be an integer from ${min} to ${max}`)
    }
    return accept(parsed)
  }
}

/** A duration in milliseconds, at least `minMs`. */
export function duration(minMs: number): Parser<number> {
  return (value) => {
    const parsed = parseDuration(value)
    if (parsed === null) return refuse('must be a duration like 30s, 15m, 12h or 2d')
    if (parsed < minMs) return refuse(`must be at least ${minMs}ms`)
    return accept(parsed)
  }
}

export const boolean: Parser<boolean> = (value) => {
  const lower = value.toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(lower)) return accept(true)
  if (['false', '0', 'no', 'off'].includes(lower)) return accept(false)
  return refuse('must be true or false')
}

/** A URL of one of `protocols` (`'https:'`), kept as written. */
export function url(protocols: string[]): Parser<string> {
  return (value) => {
    try {
      if (protocols.includes(new URL(value).protocol)) return accept(value)
    } catch {}
    return refuse(`must be a URL starting with ${protocols.join(' or ')}//`)
  }
}

/** An http(s) URL that paths are appended to: without its trailing slashes. */
export const baseUrl: Parser<string> = (value) => {
  const verdict = url(['http:', 'https:'])(value)
  return 'value' in verdict ? accept(verdict.value.replace(/\/+$/, '')) : verdict
}

/** One of `choices`, in any case, given back spelled as in `choices`. */
export function oneOf<const C extends string>(
  choices: readonly C[],
  reason = `must be one of ${choices.join(', ')}`,
): Parser<C> {
  return (value) => {
    const choice = choices.find((name) => name.toLowerCase() === value.toLowerCase())
    return choice === undefined ? refuse(reason) : accept(choice)
  }
}

/** `off`, or a duration of at least `minMs` (`minText` says it the way people write it). */
export function durationOrOff(minMs: number, minText: string): Parser<number | null> {
  return (value) => {
    if (value.toLowerCase() === 'off') return accept(null)
    const parsed = parseDuration(value)
    if (parsed === null || parsed < minMs) {
      return refuse(`must be off or a duration of at least ${minText}, like 90d`)
    }
    return accept(parsed)
  }
}

/** Fastify's `trustProxy`: off, on, a hop count, or a list of addresses/CIDRs. */
export type TrustProxy = boolean | number | string[]

/** proxy-addr's named ranges, which Fastify's `trustProxy` accepts besides addresses. */
const NAMED_PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']

/** An address, `address/prefix` or `IPv4/netmask`: what Fastify's `trustProxy` compiles. */
function isProxyAddress(entry: string): boolean {
  if (NAMED_PROXY_RANGES.includes(entry)) return true
  const [address = '', range, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (range === undefined) return true
  if (family === 4 && isIPv4(range)) return true
  return /^\d{1,3}$/.test(range) && Number(range) <= (family === 4 ? 32 : 128)
}

export const trustProxy: Parser<TrustProxy> = (value) => {
  const lower = value.toLowerCase()
  if (lower === 'true') return accept(true)
  if (lower === 'false') return accept(false)
  if (/^\d+$/.test(value)) return accept(Number(value))
  const entries = value.split(',').map((entry) => entry.trim())
  if (entries.every(isProxyAddress)) return accept(entries)
  return refuse(
    'must be false, a hop count, or a comma list of proxy addresses/CIDRs (10.0.0.0/8, fd00::/8, loopback)',
  )
}

/** A comma list of browser origins, never `*`: tokens are bearer credentials. */
export const origins: Parser<string[]> = (value) => {
  const list = value.split(',').map((origin) => origin.trim())
  const valid = list.every((origin) => {
    if (origin === '*') return false
    try {
      return new URL(origin).origin === origin
    } catch {
      return false
    }
  })
  if (valid) return accept(list)
  return refuse('must be a comma list of origins like https://shop.example.com (no *)')
}

const MIN_SECRET_BYTES = 32
const PLACEHOLDER_PREFIXES = ['changethis', 'change-me', 'changeme', 'replace-me', 'your-secret']

export const secretKey: Parser<string> = (value) => {
  if (Buffer.byteLength(value) < MIN_SECRET_BYTES) {
    return refuse(`must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  if (PLACEHOLDER_PREFIXES.some((prefix) => value.toLowerCase().startsWith(prefix))) {
    return refuse('looks like a placeholder; generate one with `openssl rand -hex 32`')
  }
  return accept(value)
}

/** An address the API would accept for an account, normalised as the API stores it. */
export const email: Parser<string> = (value) => {
  const problem = checkEmail(value)
  return problem ? refuse(problem.msg) : accept(normaliseEmail(value))
}

/** A password the API would accept for an account, exactly as given. */
export const password: Parser<string> = (value) => {
  const problem = checkPassword(value)
  return problem ? refuse(problem.msg) : accept(value)
}
