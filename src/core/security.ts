import {
  createHash,
  createHmac,
  type KeyObject,
  randomBytes,
  randomInt,
  timingSafeEqual,
} from 'node:crypto'
import bcrypt from 'bcrypt'
import { newId } from './ids.js'

export type Role = 'user' | 'admin'

/**
 * bcrypt reads only 72 bytes, so it hashes the base64 SHA-256 digest (44 bytes) of the
 * password: every character of a long password counts. bcrypt's native binding runs on
 * the libuv thread pool, never on the event loop.
 */
const prehash = (password: string) => createHash('sha256').update(password, 'utf8').digest('base64')

export const hashPassword = (password: string, rounds: number) =>
  bcrypt.hash(prehash(password), rounds)

export const verifyPassword = (password: string, hash: string) =>
  bcrypt.compare(prehash(password), hash)

/** True when `hash` was made with fewer bcrypt rounds than `rounds` (or cannot be read). */
export function hashNeedsUpgrade(hash: string, rounds: number): boolean {
  try {
    return bcrypt.getRounds(hash) < rounds
  } catch {
    return false
  }
}

/** Same-length constant-time comparison of two strings (hex digests, mostly). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** A 6-digit one-time code from the CSPRNG, leading zeros kept. */
export const generateCode = () => randomInt(0, 1_000_000).toString().padStart(6, '0')

/**
 * Codes are stored only as an HMAC under the code key (core/keys.ts); the scope (purpose
 * and user id) makes a code useless for any other user or purpose.
 */
export const hashCode = (key: KeyObject, scope: string, code: string) =>
  createHmac('sha256', key).update(`${scope}:${code}`).digest('hex')

/** An opaque 256-bit refresh token; only its SHA-256 is stored. */
export const generateRefreshToken = () => randomBytes(32).toString('base64url')

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export interface AccessTokenOptions {
  /** The access-token key derived from SECRET_KEY (core/keys.ts), never the secret itself. */
  key: KeyObject
  issuer: string
  audience: string
  ttlMs: number
}

export interface AccessClaims {
  sub: string
  role: Role
  /** Seconds since the epoch, as in the token. */
  iat: number
  jti: string
}

const ACCESS_TOKEN_TYPE = 'at+jwt'

const base64urlJson = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const ACCESS_TOKEN_HEADER = base64urlJson({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE })

/**
 * Signs an access token; `issuedAtSeconds` lets the caller keep it after `tokens_valid_after`.
 * Signed with node:crypto, synchronously: jose's WebCrypto signature is a job on the libuv
 * pool, where it queued behind every pending bcrypt and doubled login latency under load.
 */
export async function signAccessToken(
  options: AccessTokenOptions,
  subject: { id: string; role: Role },
  issuedAtSeconds: number,
): Promise<{ token: string; expiresInSeconds: number }> {
  const expiresInSeconds = Math.floor(options.ttlMs / 1000)
  const payload = base64urlJson({
    role: subject.role,
    sub: subject.id,
    iat: issuedAtSeconds,
    exp: issuedAtSeconds + expiresInSeconds,
    jti: newId(),
    iss: options.issuer,
    aud: options.audience,
  })
  const input = `${ACCESS_TOKEN_HEADER}.${payload}`
  const signature = createHmac('sha256', options.key).update(input).digest('base64url')
  return { token: `${input}.${signature}`, expiresInSeconds }
}

const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/
/** jose's `typ` comparison: case-insensitive, `application/` prefix optional. */
const normaliseTyp = (typ: string) => typ.toLowerCase().replace(/^application\//, '')

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

/**
 * Verifies signature (HS256 only: `none` and other algorithms are refused), `typ`,
 * issuer, audience, expiry and the JSON type of every claim. Returns null on any failure.
 *
 * The checks are those of jose's `jwtVerify` with the options signing uses, done
 * synchronously with node:crypto: jose goes through WebCrypto (a key import and a
 * thread-pool job per call), which took a fifth of the CPU of `GET /users/me`
 * (docs/benchmark.md). test/unit/access-token.test.ts holds both to jose's verdict.
 */
export async function verifyAccessToken(
  options: AccessTokenOptions,
  token: string,
  now: Date,
): Promise<AccessClaims | null> {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  const [header, payload, signature] = parts as [string, string, string]
  if (![header, payload, signature].every((part) => BASE64URL_SEGMENT.test(part))) return null
  // Compared as canonical base64url text: no second encoding of the same bytes is accepted.
  const expected = createHmac('sha256', options.key)
    .update(`${header}.${payload}`)
    .digest('base64url')
  if (!safeEqual(signature, expected)) return null

  const head = decodeJsonObject(header)
  if (head?.alg !== 'HS256' || typeof head.typ !== 'string') return null
  if (normaliseTyp(head.typ) !== ACCESS_TOKEN_TYPE) return null
  // No extension is understood, so any critical one (or an unencoded payload) is refused.
  if ('crit' in head || 'b64' in head) return null

  const claims = decodeJsonObject(payload)
  if (claims === null) return null
  const { sub, role, iat, exp, jti, iss, aud, nbf } = claims
  if (typeof sub !== 'string' || typeof jti !== 'string') return null
  if (typeof iat !== 'number' || typeof exp !== 'number') return null
  if (iss !== options.issuer) return null
  if (aud !== options.audience && !(Array.isArray(aud) && aud.includes(options.audience))) {
    return null
  }
  const nowSeconds = Math.floor(now.getTime() / 1000)
  if (exp <= nowSeconds) return null
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) return null
  if (role !== 'user' && role !== 'admin') return null
  return { sub, role, iat, jti }
}
