import { createHmac, createSecretKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  type AccessTokenOptions,
  signAccessToken,
  type VerificationKeys,
  verifyAccessToken,
} from '../../src/core/access-tokens.js'
import { generateSigningKeyPair, publicKeyOf } from '../../src/core/signing-keys.js'
import { b64, forgeJwt } from '../helpers/jwt.js'

/**
 * Access tokens are signed and checked with node:crypto instead of jose (for speed, see
 * docs/benchmark.md); these cases hold both to jose's verdict with the same options.
 */
const options: AccessTokenOptions = {
  issuer: 'coffee-shop-api',
  audience: 'coffee-shop',
  ttlMs: 900_000,
}
const hmacSecret = 'unit-test-secret-0123456789abcdef0123456789'
const hmacKey = createSecretKey(hmacSecret, 'utf8')
const now = new Date('2026-11-25T10:00:00.500Z')
const nowSeconds = Math.floor(now.getTime() / 1000)
const claims = {
  sub: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
  role: 'user',
  sid: '01JD8X4ZQK3V7M2N5P6R8S9T0Y',
  iat: nowSeconds,
  exp: nowSeconds + 900,
  jti: '01JD8X4ZQK3V7M2N5P6R8S9T0X',
  iss: options.issuer,
  aud: options.audience,
}
const subject = { id: claims.sub, role: 'admin' as const, sessionId: claims.sid }

const es256 = generateSigningKeyPair('ES256')
const es256Public = publicKeyOf(es256.publicJwk)
const ed25519 = generateSigningKeyPair('EdDSA')
const ed25519Public = publicKeyOf(ed25519.publicJwk)

const hs256Mode: VerificationKeys = {
  algorithm: 'HS256',
  publicKey: () => undefined,
  hs256: { key: hmacKey, issuedBefore: Number.POSITIVE_INFINITY },
}
const es256Mode: VerificationKeys = {
  algorithm: 'ES256',
  publicKey: (kid) => (kid === es256.kid ? es256Public : undefined),
  hs256: null,
}
const eddsaMode: VerificationKeys = {
  algorithm: 'EdDSA',
  publicKey: (kid) => (kid === ed25519.kid ? ed25519Public : undefined),
  hs256: null,
}

const forge = (head: unknown, payload: unknown, signer: 'none' | KeyObject | string = hmacKey) =>
  forgeJwt(head, payload, signer)

async function joseAccepts(token: string, key: KeyObject, algorithm: string): Promise<boolean> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [algorithm],
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
      (payload.sid === undefined || typeof payload.sid === 'string') &&
      (payload.role === 'user' || payload.role === 'admin')
    )
  } catch {
    return false
  }
}

const accepted = (keys: VerificationKeys, token: string) =>
  verifyAccessToken(options, keys, token, now).ok

const hs = { alg: 'HS256', typ: 'at+jwt' }
const hsCases: [string, string, boolean][] = [
  ['a well-formed token', forge(hs, claims), true],
  [
    'typ in another case, with application/',
    forge({ ...hs, typ: 'application/AT+JWT' }, claims),
    true,
  ],
  [
    'aud as a list holding the audience',
    forge(hs, { ...claims, aud: ['x', options.audience] }),
    true,
  ],
  ['a past nbf', forge(hs, { ...claims, nbf: nowSeconds - 10 }), true],
  ['no sid (a token from before sessions)', forge(hs, { ...claims, sid: undefined }), true],
  ['exp equal to now', forge(hs, { ...claims, exp: nowSeconds }), false],
  ['a future nbf', forge(hs, { ...claims, nbf: nowSeconds + 10 }), false],
  ['nbf as a string', forge(hs, { ...claims, nbf: String(nowSeconds) }), false],
  ['sid as a number', forge(hs, { ...claims, sid: 7 }), false],
  ['aud as a list without the audience', forge(hs, { ...claims, aud: ['x'] }), false],
  ['no iss', forge(hs, { ...claims, iss: undefined }), false],
  ['no iat', forge(hs, { ...claims, iat: undefined }), false],
  ['jti as a number', forge(hs, { ...claims, jti: 7 }), false],
  ['a critical extension', forge({ ...hs, crit: ['x'], x: 1 }, claims), false],
  ['an unencoded-payload header', forge({ ...hs, b64: false, crit: ['b64'] }, claims), false],
  ['typ as a number', forge({ ...hs, typ: 1 }, claims), false],
  ['alg hs256 in lower case', forge({ ...hs, alg: 'hs256' }, claims), false],
  ['alg none', forge({ ...hs, alg: 'none' }, claims, 'none'), false],
  ['another secret', forge(hs, claims, 'another-secret-0123456789abcdef01'), false],
  ['a payload that is a list', forge(hs, [claims]), false],
  [
    'a payload that is not JSON',
    (() => {
      const input = `${b64(hs)}.${Buffer.from('{"sub":').toString('base64url')}`
      return `${input}.${createHmac('sha256', hmacKey).update(input).digest('base64url')}`
    })(),
    false,
  ],
  ['a header that is null', forge(null, claims), false],
  ['four segments', `${forge(hs, claims)}.x`, false],
  ['an empty signature', `${forge(hs, claims).split('.').slice(0, 2).join('.')}.`, false],
]

describe('HS256 (JWT_ALGORITHM=HS256): verifyAccessToken agrees with jose', () => {
  it.each(hsCases)('%s', async (_label, token, expected) => {
    expect(await joseAccepts(token, hmacKey, 'HS256')).toBe(expected)
    expect(accepted(hs256Mode, token)).toBe(expected)
  })

  it('signs without a kid, with sid, and refuses a re-encoded signature', () => {
    const { token } = signAccessToken(
      options,
      { algorithm: 'HS256', key: hmacKey },
      subject,
      nowSeconds,
    )
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'at+jwt' })
    const [head, payload, signature = ''] = token.split('.')
    expect(verifyAccessToken(options, hs256Mode, token, now)).toEqual({
      ok: true,
      kid: null,
      claims: {
        sub: claims.sub,
        role: 'admin',
        sid: claims.sid,
        iat: nowSeconds,
        exp: nowSeconds + 900,
        jti: expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
      },
    })
    // 32 bytes are 43 base64url characters: the last one carries 2 unused bits.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const sibling = alphabet[alphabet.indexOf(signature.at(-1) ?? 'A') ^ 1]
    for (const variant of [`${signature}=`, `${signature.slice(0, -1)}${sibling}`]) {
      expect(accepted(hs256Mode, `${head}.${payload}.${variant}`)).toBe(false)
    }
  })
})

const es = { alg: 'ES256', typ: 'at+jwt', kid: es256.kid }
const publicPem = es256Public.export({ format: 'pem', type: 'spki' }).toString()
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const esCases: [string, string, boolean][] = [
  ['a well-formed token', forge(es, claims, es256.privateKey), true],
  ['an expired one', forge(es, { ...claims, exp: nowSeconds - 1 }, es256.privateKey), false],
  ['a wrong audience', forge(es, { ...claims, aud: 'other' }, es256.privateKey), false],
  ['no typ', forge({ alg: 'ES256', kid: es256.kid }, claims, es256.privateKey), false],
  ['signed by another P-256 key', forge(es, claims, attacker.privateKey), false],
  ['alg none', forge({ ...es, alg: 'none' }, claims, 'none'), false],
  // The classic key confusion: HS256 with the verifier's public key as the HMAC secret.
  [
    'HS256 with the public key (PEM) as secret',
    forge({ ...es, alg: 'HS256' }, claims, publicPem),
    false,
  ],
  ['HS256 with the public key (PEM), no kid', forge(hs, claims, publicPem), false],
  [
    'an EdDSA token under the ES256 kid',
    forge({ ...es, alg: 'EdDSA' }, claims, ed25519.privateKey),
    false,
  ],
  ['ES384 claimed', forge({ ...es, alg: 'ES384' }, claims, es256.privateKey), false],
  [
    'a signature in DER form',
    (() => {
      const input = `${b64(es)}.${b64(claims)}`
      return `${input}.${sign('sha256', Buffer.from(input), es256.privateKey).toString('base64url')}`
    })(),
    false,
  ],
]

describe('ES256: verifyAccessToken agrees with jose, and refuses what jose would be tricked by', () => {
  it.each(esCases)('%s', async (_label, token, expected) => {
    expect(await joseAccepts(token, es256Public, 'ES256')).toBe(expected)
    expect(accepted(es256Mode, token)).toBe(expected)
  })

  it('signs with alg, typ and kid in the header and sid among the claims', async () => {
    const signer = { algorithm: 'ES256' as const, kid: es256.kid, key: es256.privateKey }
    const { token } = signAccessToken(options, signer, subject, nowSeconds)
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: es256.kid })
    const { payload } = await jwtVerify(token, es256Public, { currentDate: now })
    expect(payload).toMatchObject({ sub: claims.sub, sid: claims.sid, role: 'admin' })
    expect(verifyAccessToken(options, es256Mode, token, now)).toMatchObject({
      ok: true,
      kid: es256.kid,
    })
  })

  it('reports an unknown kid (so the caller can reload), and refuses a missing one', () => {
    const unknown = forge({ ...es, kid: 'not-loaded-yet' }, claims, es256.privateKey)
    expect(verifyAccessToken(options, es256Mode, unknown, now)).toEqual({
      ok: false,
      unknownKid: 'not-loaded-yet',
    })
    const { kid: _kid, ...noKid } = es
    expect(
      verifyAccessToken(options, es256Mode, forge(noKid, claims, es256.privateKey), now),
    ).toEqual({ ok: false })
  })

  it('refuses a token carrying a key or a key address in its header, even a valid one', () => {
    const privateJwk = attacker.privateKey.export({ format: 'jwk' })
    for (const extra of [
      { jwk: privateJwk },
      { jwk: es256.publicJwk },
      { jku: 'https://evil.example/jwks.json' },
      { x5u: 'https://evil.example/cert.pem' },
      { x5c: ['MIIB'] },
    ]) {
      expect(accepted(es256Mode, forge({ ...es, ...extra }, claims, es256.privateKey))).toBe(false)
      expect(accepted(es256Mode, forge({ ...es, ...extra }, claims, attacker.privateKey))).toBe(
        false,
      )
    }
  })

  it('accepts HS256 only while upgrading, only from before the upgrade, and never with a kid', () => {
    const upgrading: VerificationKeys = {
      ...es256Mode,
      hs256: { key: hmacKey, issuedBefore: nowSeconds + 1 },
    }
    expect(accepted(es256Mode, forge(hs, claims))).toBe(false)
    expect(accepted(upgrading, forge(hs, claims))).toBe(true)
    expect(accepted(upgrading, forge(hs, { ...claims, iat: nowSeconds + 1 }))).toBe(false)
    expect(accepted(upgrading, forge({ ...hs, kid: es256.kid }, claims))).toBe(false)
    expect(accepted(upgrading, forge(hs, claims, publicPem))).toBe(false)
  })
})

describe('EdDSA (Ed25519)', () => {
  const ed = { alg: 'EdDSA', typ: 'at+jwt', kid: ed25519.kid }

  it('signs tokens jose verifies, and refuses ES256 ones', async () => {
    const signer = { algorithm: 'EdDSA' as const, kid: ed25519.kid, key: ed25519.privateKey }
    const { token } = signAccessToken(options, signer, subject, nowSeconds)
    expect(await joseAccepts(token, ed25519Public, 'EdDSA')).toBe(true)
    expect(accepted(eddsaMode, token)).toBe(true)
    expect(accepted(eddsaMode, forge(ed, claims, ed25519.privateKey))).toBe(true)
    expect(accepted(eddsaMode, forge({ ...ed, alg: 'ES256' }, claims, es256.privateKey))).toBe(
      false,
    )
    expect(accepted(es256Mode, token)).toBe(false)
    expect(accepted(eddsaMode, forge(ed, claims, generateSigningKeyPair('EdDSA').privateKey))).toBe(
      false,
    )
  })
})
