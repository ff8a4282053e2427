import { createHmac, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { decodeJwt, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keysFor } from '../../src/core/keys.js'
import { hashCode } from '../../src/core/security.js'
import { generateSigningKeyPair } from '../../src/core/signing-keys.js'
import { oneTimeCodes } from '../../src/db/schema.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import {
  expectRefused,
  freshSession,
  login,
  refresh,
  signup,
  type Tokens,
  uniqueEmail,
  verifiedUser,
} from '../helpers/auth-flow.js'
import { b64, forgeJwt } from '../helpers/jwt.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const me = (accessToken: string) =>
  t.app.inject({
    method: 'GET',
    url: '/users/me',
    headers: { authorization: `Bearer ${accessToken}` },
  })

async function expectRejected(accessToken: string) {
  const response = await me(accessToken)
  expect(response.statusCode).toBe(401)
  expect(response.headers['www-authenticate']).toBe('Bearer')
  expect(response.json()).toEqual({
    detail: 'Could not validate credentials',
    code: 'invalid_token',
  })
}

/** The HS256 key the API derives from SECRET_KEY. */
const accessTokenKey = keysFor(TEST_SECRET).accessToken.export()

/** The app's current signing key (ES256 by default), to forge tokens it would accept. */
function currentKey() {
  const signer = t.services.keyStore.signer()
  if (signer.algorithm === 'HS256') throw new Error('expected an asymmetric key')
  return signer
}

const forge = (header: Record<string, unknown>, claims: Record<string, unknown>, key?: KeyObject) =>
  forgeJwt(header, claims, key ?? currentKey().key)

describe('access tokens', () => {
  let userId: string
  /** A live session of that user: forged tokens name it, so only the forgery is judged. */
  let sessionId: string
  const header = () => ({ alg: 'ES256', typ: 'at+jwt', kid: currentKey().kid })
  const claims = () => {
    const now = Math.floor(t.clock.now().getTime() / 1000)
    return {
      sub: userId,
      role: 'user',
      sid: sessionId,
      iat: now,
      exp: now + 600,
      jti: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
      iss: t.config.jwtIssuer,
      aud: t.config.jwtAudience,
    }
  }
  /** The current key's public half as PEM: what a key-confusion attack uses as HMAC secret. */
  const publicPem = () =>
    createPublicKey(currentKey().key).export({ format: 'pem', type: 'spki' }).toString()
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey

  beforeAll(async () => {
    const { user, tokens } = await freshSession(t)
    userId = user.id
    sessionId = decodeJwt(tokens.access_token).sid as string
  })

  it('accepts the issued token and a correctly forged one (the forger is sound)', async () => {
    const { tokens } = await freshSession(t)
    expect((await me(tokens.access_token)).statusCode).toBe(200)
    const forged = await me(forge(header(), claims()))
    expect(forged.statusCode).toBe(200)
    expect(forged.json().id).toBe(userId)
  })

  it.each([
    ['alg none', () => forgeJwt({ ...header(), alg: 'none' }, claims(), 'none')],
    [
      'HS256 with the public key as secret',
      () => forgeJwt({ ...header(), alg: 'HS256' }, claims(), publicPem()),
    ],
    [
      'HS256 with the public key as secret, no kid',
      () => forgeJwt({ alg: 'HS256', typ: 'at+jwt' }, claims(), publicPem()),
    ],
    [
      'HS256 with SECRET_KEY, issued after the keys were made',
      () => {
        const later = { ...claims(), iat: claims().iat + 1, exp: claims().exp + 1 }
        return forgeJwt({ alg: 'HS256', typ: 'at+jwt' }, later, keysFor(TEST_SECRET).accessToken)
      },
    ],
    ['HS512', () => forgeJwt({ alg: 'HS512', typ: 'at+jwt' }, claims(), TEST_SECRET)],
    [
      'EdDSA under the current kid',
      () =>
        forge({ ...header(), alg: 'EdDSA' }, claims(), generateSigningKeyPair('EdDSA').privateKey),
    ],
    ['another P-256 key under the current kid', () => forge(header(), claims(), attacker)],
    ['an unknown kid', () => forge({ ...header(), kid: 'no-such-key' }, claims())],
    ['no kid', () => forge({ alg: 'ES256', typ: 'at+jwt' }, claims())],
    ['a kid that is a number', () => forge({ ...header(), kid: 7 }, claims())],
    [
      'its own key, private part and all, in the header',
      () => forge({ ...header(), jwk: attacker.export({ format: 'jwk' }) }, claims(), attacker),
    ],
    [
      'a key address in the header',
      () => forge({ ...header(), jku: 'http://127.0.0.1:9/jwks.json' }, claims()),
    ],
    ['no typ', () => forge({ alg: 'ES256', kid: currentKey().kid }, claims())],
    ['typ JWT', () => forge({ ...header(), typ: 'JWT' }, claims())],
    ['a wrong audience', () => forge(header(), { ...claims(), aud: 'someone-else' })],
    ['a wrong issuer', () => forge(header(), { ...claims(), iss: 'someone-else' })],
    ['exp as a string', () => forge(header(), { ...claims(), exp: String(claims().exp) })],
    ['iat as a string', () => forge(header(), { ...claims(), iat: String(claims().iat) })],
    ['sid as a number', () => forge(header(), { ...claims(), sid: 7 })],
    ['no jti', () => forge(header(), { ...claims(), jti: undefined })],
    ['an unknown role', () => forge(header(), { ...claims(), role: 'owner' })],
    ['a past exp', () => forge(header(), { ...claims(), exp: claims().iat - 60 })],
    [
      'an unknown subject',
      () => forge(header(), { ...claims(), sub: '01JD8X4ZQK3V7M2N5P6R8S9T0W' }),
    ],
  ])('rejects a token with %s: 401', async (_label, make) => {
    await expectRejected(make())
  })

  it('gives a refreshed token the sid of its login', async () => {
    const { tokens } = await freshSession(t)
    const next: Tokens = (await refresh(t, tokens.refresh_token)).json()
    const sid = decodeJwt(tokens.access_token).sid
    expect(sid).toEqual(expect.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/))
    expect(decodeJwt(next.access_token).sid).toBe(sid)
    const other = await login(t, (await verifiedUser(t)).email)
    expect(decodeJwt(other.access_token).sid).not.toBe(sid)
  })

  it('rejects a token whose payload was altered after signing', async () => {
    const { tokens } = await freshSession(t)
    const [head, , signature] = tokens.access_token.split('.')
    const promoted = { ...claims(), role: 'admin' }
    await expectRejected(`${head}.${b64(promoted)}.${signature}`)
  })

  it('rejects a token with a damaged signature', async () => {
    const { tokens } = await freshSession(t)
    const last = tokens.access_token.at(-2) === 'A' ? 'B' : 'A'
    await expectRejected(`${tokens.access_token.slice(0, -2)}${last}${tokens.access_token.at(-1)}`)
  })

  it('rejects a refresh token used as an access token, and the reverse', async () => {
    const { tokens } = await freshSession(t)
    await expectRejected(tokens.refresh_token)
    expectRefused(await refresh(t, tokens.access_token))
  })

  it('rejects an expired token', async () => {
    const { tokens } = await freshSession(t)
    t.clock.advance(t.config.accessTokenTtlMs + 1_000)
    await expectRejected(tokens.access_token)
  })

  it('rejects the tokens of a deactivated user', async () => {
    const { user, tokens } = await freshSession(t)
    await createUsersRepository(t.db).update(user.id, { isActive: false })
    await expectRejected(tokens.access_token)
    expectRefused(await refresh(t, tokens.refresh_token))
  })
})

describe('keys derived from SECRET_KEY', () => {
  it('stores codes under the code key, which is neither the JWT key nor the secret', async () => {
    const { id, code } = await signup(t, uniqueEmail())
    const [row] = await t.db
      .select({ codeHash: oneTimeCodes.codeHash })
      .from(oneTimeCodes)
      .where(eq(oneTimeCodes.userId, id))
    const scope = `verify_email:${id}`
    const hmac = (key: Buffer | string) =>
      createHmac('sha256', key).update(`${scope}:${code}`).digest('hex')
    expect(row?.codeHash).toBe(hashCode(keysFor(TEST_SECRET).codeHmac, scope, code))
    expect(row?.codeHash).not.toBe(hmac(accessTokenKey))
    expect(row?.codeHash).not.toBe(hmac(TEST_SECRET))
  })
})

describe('tokens signed with HS256 (JWT_ALGORITHM=HS256)', () => {
  let hs: TestApp
  beforeAll(async () => {
    hs = await createTestApp({ JWT_ALGORITHM: 'HS256' })
  })
  afterAll(() => hs.close())

  it('takes a token signed with the derived key, and refuses one signed with SECRET_KEY itself (jose)', async () => {
    const userId = (await verifiedUser(hs)).id
    const now = Math.floor(hs.clock.now().getTime() / 1000)
    const signWith = (key: Uint8Array) =>
      new SignJWT({ role: 'user', jti: '01JD8X4ZQK3V7M2N5P6R8S9T0W' })
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
        .setSubject(userId)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .setIssuer(hs.config.jwtIssuer)
        .setAudience(hs.config.jwtAudience)
        .sign(key)
    const meOn = (token: string) =>
      hs.app.inject({
        method: 'GET',
        url: '/users/me',
        headers: { authorization: `Bearer ${token}` },
      })
    expect((await meOn(await signWith(accessTokenKey))).statusCode).toBe(200)
    expect((await meOn(await signWith(new TextEncoder().encode(TEST_SECRET)))).statusCode).toBe(401)
  })
})
