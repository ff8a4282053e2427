import {
  createHash,
  createHmac,
  type KeyObject,
  randomBytes,
  randomInt,
  timingSafeEqual,
} from 'node:crypto'
import bcrypt from 'bcrypt'

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
