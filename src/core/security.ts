import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import bcrypt from 'bcrypt'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
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

/** Same-length constant-time comparison of two strings (hex digests, mostly). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** A 6-digit one-time code from the CSPRNG, leading zeros kept. */
export const generateCode = () => randomInt(0, 1_000_000).toString().padStart(6, '0')

/**
 * Codes are stored only as an HMAC keyed with the secret; the scope (purpose and user id)
 * makes a code useless for any other user or purpose.
 */
export const hashCode = (secret: string, scope: string, code: string) =>
  createHmac('sha256', secret).update(`${scope}:${code}`).digest('hex')

/** An opaque 256-bit refresh token; only its SHA-256 is stored. */
export const generateRefreshToken = () => randomBytes(32).toString('base64url')

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export interface AccessTokenOptions {
  secretKey: string
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
const keyCache = new Map<string, Uint8Array>()
const keyOf = (secret: string) => {
  let key = keyCache.get(secret)
  if (!key) {
    key = new TextEncoder().encode(secret)
    keyCache.set(secret, key)
  }
  return key
}

/** Signs an access token; `issuedAtSeconds` lets the caller keep it after `tokens_valid_after`. */
export async function signAccessToken(
  options: AccessTokenOptions,
  subject: { id: string; role: Role },
  issuedAtSeconds: number,
): Promise<{ token: string; expiresInSeconds: number }> {
  const expiresInSeconds = Math.floor(options.ttlMs / 1000)
  const token = await new SignJWT({ role: subject.role })
    .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE })
    .setSubject(subject.id)
    .setIssuedAt(issuedAtSeconds)
    .setExpirationTime(issuedAtSeconds + expiresInSeconds)
    .setJti(newId())
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .sign(keyOf(options.secretKey))
  return { token, expiresInSeconds }
}

/**
 * Verifies signature (HS256 only: `none` and other algorithms are refused), `typ`,
 * issuer, audience, expiry and the JSON type of every claim. Returns null on any failure.
 */
export async function verifyAccessToken(
  options: AccessTokenOptions,
  token: string,
  now: Date,
): Promise<AccessClaims | null> {
  try {
    const { payload } = await jwtVerify(token, keyOf(options.secretKey), {
      algorithms: ['HS256'],
      typ: ACCESS_TOKEN_TYPE,
      issuer: options.issuer,
      audience: options.audience,
      currentDate: now,
      requiredClaims: ['sub', 'role', 'iat', 'exp', 'jti'],
    })
    const { sub, role, iat, jti } = payload
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof iat !== 'number') return null
    if (role !== 'user' && role !== 'admin') return null
    return { sub, role, iat, jti }
  } catch (error) {
    if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return null
    throw error
  }
}
