import { createHmac } from 'node:crypto'
import { expect } from 'vitest'
import type { TestApp } from './app.js'
import { authHeaders, makeUser } from './factories.js'

/**
 * RFC 6238 written out here with node:crypto alone, independent of the library the service
 * uses, so a test's codes are never made by the code under test.
 */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

export function base32Decode(text: string): Buffer {
  let bits = 0
  let value = 0
  const bytes: number[] = []
  for (const character of text.replace(/=+$/, '').toUpperCase()) {
    const index = BASE32.indexOf(character)
    if (index < 0) throw new Error(`not base32: ${character}`)
    value = (value << 5) | index
    bits += 5
    if (bits >= 8) {
      bits -= 8
      bytes.push((value >>> bits) & 0xff)
    }
  }
  return Buffer.from(bytes)
}

/** RFC 4226 HOTP with dynamic truncation, over `algorithm` (RFC 6238 allows SHA-256/512 too). */
export function hotp(key: Buffer, counter: number, digits = 6, algorithm = 'sha1'): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(BigInt(counter))
  const mac = createHmac(algorithm, key).update(message).digest()
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** digits).padStart(digits, '0')
}

/** The TOTP code of `secret` (base32) at `at`, `stepOffset` steps away. */
export const totpAt = (secret: string, at: Date, stepOffset = 0) =>
  hotp(base32Decode(secret), Math.floor(at.getTime() / 30_000) + stepOffset)

/** A code that is not the right one for any step within one of `at`. */
export function wrongCode(secret: string, at: Date): string {
  const near = new Set([-1, 0, 1].map((offset) => totpAt(secret, at, offset)))
  let candidate = 0
  while (near.has(String(candidate).padStart(6, '0'))) candidate++
  return String(candidate).padStart(6, '0')
}

/** Starts an enrolment through the API: a pending factor. The response (200: its secret). */
export const startEnrolment = (t: TestApp, headers: { authorization: string }, password: string) =>
  t.app.inject({
    method: 'POST',
    url: '/users/me/mfa/totp',
    headers,
    payload: { current_password: password },
  })

/** Turns MFA on for a user; the secret (base32) and the recovery codes. */
export async function enrolTotp(t: TestApp, headers: { authorization: string }, password: string) {
  const started = await startEnrolment(t, headers, password)
  expect(started.statusCode).toBe(200)
  const { secret } = started.json() as { secret: string }
  const confirmed = await t.app.inject({
    method: 'POST',
    url: '/users/me/mfa/totp/confirm',
    headers,
    payload: { code: totpAt(secret, t.clock.now()) },
  })
  expect(confirmed.statusCode).toBe(200)
  // The next code must be of a later step: the first one has been used.
  t.clock.advance(30_000)
  return {
    secret,
    recoveryCodes: (confirmed.json() as { recovery_codes: string[] }).recovery_codes,
  }
}

/** A new user with MFA on: the user, a bearer header, the secret and the recovery codes. */
export async function mfaUser(t: TestApp) {
  const user = await makeUser(t)
  const headers = await authHeaders(t, user)
  return { user, headers, ...(await enrolTotp(t, headers, user.password)) }
}
