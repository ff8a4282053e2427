import { createHmac, createSecretKey } from 'node:crypto'
import { jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  type AccessTokenOptions,
  signAccessToken,
  verifyAccessToken,
} from '../../src/core/security.js'

/**
 * Access tokens are signed and checked with node:crypto instead of jose (for speed, see
 * docs/benchmark.md); these cases hold both to jose's verdict with the same options.
 */
const keyBytes = Buffer.from('unit-test-secret-0123456789abcdef0123456789')
const options: AccessTokenOptions = {
  key: createSecretKey(keyBytes),
  issuer: 'coffee-shop-api',
  audience: 'coffee-shop',
  ttlMs: 900_000,
}
const now = new Date('2026-11-25T10:00:00.500Z')
const nowSeconds = Math.floor(now.getTime() / 1000)
const claims = {
  sub: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
  role: 'user',
  iat: nowSeconds,
  exp: nowSeconds + 900,
  jti: '01JD8X4ZQK3V7M2N5P6R8S9T0X',
  iss: options.issuer,
  aud: options.audience,
}
const header = { alg: 'HS256', typ: 'at+jwt' }

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const sign = (input: string, secret: Buffer | string = keyBytes) =>
  createHmac('sha256', secret).update(input).digest('base64url')
const forge = (head: unknown, payload: unknown) => {
  const input = `${b64(head)}.${b64(payload)}`
  return `${input}.${sign(input)}`
}

async function joseAccepts(token: string): Promise<boolean> {
  try {
    const { payload } = await jwtVerify(token, keyBytes, {
      algorithms: ['HS256'],
      typ: 'at+jwt',
      issuer: options.issuer,
      audience: options.audience,
      currentDate: now,
      requiredClaims: ['sub', 'role', 'iat', 'exp', 'jti'],
    })
    return (
      typeof payload.sub === 'string' &&
      typeof payload.jti === 'string' &&
      typeof payload.iat === 'number' &&
      (payload.role === 'user' || payload.role === 'admin')
    )
  } catch {
    return false
  }
}

const cases: [string, string, boolean][] = [
  ['a well-formed token', forge(header, claims), true],
  [
    'typ in another case, with application/',
    forge({ ...header, typ: 'application/AT+JWT' }, claims),
    true,
  ],
  [
    'aud as a list holding the audience',
    forge(header, { ...claims, aud: ['x', options.audience] }),
    true,
  ],
  ['a past nbf', forge(header, { ...claims, nbf: nowSeconds - 10 }), true],
  ['an admin role', forge(header, { ...claims, role: 'admin' }), true],
  ['exp equal to now', forge(header, { ...claims, exp: nowSeconds }), false],
  ['a future nbf', forge(header, { ...claims, nbf: nowSeconds + 10 }), false],
  ['nbf as a string', forge(header, { ...claims, nbf: String(nowSeconds) }), false],
  ['aud as a list without the audience', forge(header, { ...claims, aud: ['x'] }), false],
  ['no iss', forge(header, { ...claims, iss: undefined }), false],
  ['no iat', forge(header, { ...claims, iat: undefined }), false],
  ['jti as a number', forge(header, { ...claims, jti: 7 }), false],
  ['a critical extension', forge({ ...header, crit: ['x'], x: 1 }, claims), false],
  ['an unencoded-payload header', forge({ ...header, b64: false, crit: ['b64'] }, claims), false],
  ['typ as a number', forge({ ...header, typ: 1 }, claims), false],
  ['alg hs256 in lower case', forge({ ...header, alg: 'hs256' }, claims), false],
  ['a payload that is a list', forge(header, [claims]), false],
  [
    'a payload that is not JSON',
    (() => {
      const input = `${b64(header)}.${Buffer.from('{"sub":').toString('base64url')}`
      return `${input}.${sign(input)}`
    })(),
    false,
  ],
  ['a header that is null', forge(null, claims), false],
  ['four segments', `${forge(header, claims)}.x`, false],
  ['an empty signature', `${forge(header, claims).split('.').slice(0, 2).join('.')}.`, false],
]

describe('verifyAccessToken agrees with jose', () => {
  it.each(cases)('%s', async (_label, token, accepted) => {
    expect(await joseAccepts(token)).toBe(accepted)
    expect((await verifyAccessToken(options, token, now)) !== null).toBe(accepted)
  })

  it('accepts what signAccessToken issues, and returns its claims', async () => {
    const { token } = await signAccessToken(options, { id: claims.sub, role: 'admin' }, nowSeconds)
    expect(await joseAccepts(token)).toBe(true)
    const key = keyBytes
    const { protectedHeader } = await jwtVerify(token, key, { currentDate: now })
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'at+jwt' })
    expect(await verifyAccessToken(options, token, now)).toEqual({
      sub: claims.sub,
      role: 'admin',
      iat: nowSeconds,
      jti: expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
    })
  })

  it('refuses a signature re-encoded with padding or a changed last character', async () => {
    const token = forge(header, claims)
    const [head, payload, signature = ''] = token.split('.')
    // 32 bytes are 43 base64url characters: the last one carries 2 unused bits.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const sibling = alphabet[alphabet.indexOf(signature.at(-1) ?? 'A') ^ 1]
    // The same bytes when decoded leniently: only the unused bits differ.
    expect(Buffer.from(`${signature.slice(0, -1)}${sibling}`, 'base64url')).toEqual(
      Buffer.from(signature, 'base64url'),
    )
    for (const variant of [`${signature}=`, `${signature.slice(0, -1)}${sibling}`]) {
      expect(await verifyAccessToken(options, `${head}.${payload}.${variant}`, now)).toBeNull()
    }
  })
})
