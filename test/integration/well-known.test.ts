import { eq } from 'drizzle-orm'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signingKeys } from '../../src/db/schema.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { login, verifiedUser } from '../helpers/auth-flow.js'

const getJson = async (t: TestApp, url: string) => {
  const response = await t.app.inject({ method: 'GET', url })
  return { response, body: response.json() }
}

/** What a JWK may hold: public parameters only. */
const PUBLIC_MEMBERS = new Set(['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y'])

describe('publishing the public keys (ES256, the default)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ PUBLIC_URL: 'https://auth.coffee.example/' })
  })
  afterAll(() => t.close())

  it('publishes the current and next public keys, cacheable for five minutes', async () => {
    const { response, body } = await getJson(t, '/.well-known/jwks.json')
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('public, max-age=300')
    expect(body.keys).toHaveLength(2)
    for (const key of body.keys) {
      expect(key).toEqual({
        kty: 'EC',
        crv: 'P-256',
        alg: 'ES256',
        use: 'sig',
        kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        y: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      })
    }
    const states = await t.db.select().from(signingKeys)
    expect(states.map((row) => row.state).sort()).toEqual(['current', 'next'])
  })

  it('holds the key that verifies a login token, for a verifier with no secret (jose)', async () => {
    const user = await verifiedUser(t)
    const { access_token } = await login(t, user.email, user.password)
    const { body } = await getJson(t, '/.well-known/jwks.json')
    const { payload, protectedHeader } = await jwtVerify(access_token, createLocalJWKSet(body), {
      issuer: t.config.jwtIssuer,
      audience: t.config.jwtAudience,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      currentDate: t.clock.now(),
    })
    expect(payload.sub).toBe(user.id)
    const current = (await t.db.select().from(signingKeys)).find((row) => row.state === 'current')
    expect(protectedHeader.kid).toBe(current?.kid)
  })

  it('never publishes a private part, even one stored in the public column', async () => {
    const [next] = await t.db.select().from(signingKeys).where(eq(signingKeys.state, 'next'))
    const privateJwk = {
      ...next?.publicJwk,
      d: 'c2VjcmV0LXByaXZhdGUtcGFydC0wMTIzNDU2Nzg5YWI',
      p: 'x',
    }
    await t.db
      .update(signingKeys)
      .set({ publicJwk: privateJwk })
      .where(eq(signingKeys.kid, next?.kid ?? ''))
    await t.services.keyStore.reload()
    const { response, body } = await getJson(t, '/.well-known/jwks.json')
    expect(response.body).not.toContain('"d"')
    expect(body.keys).toHaveLength(2)
    for (const key of body.keys) {
      expect(Object.keys(key).filter((member) => !PUBLIC_MEMBERS.has(member))).toEqual([])
    }
  })

  it('serves RFC 8414 metadata with absolute URLs on PUBLIC_URL', async () => {
    const { response, body } = await getJson(t, '/.well-known/oauth-authorization-server')
    expect(response.statusCode).toBe(200)
    expect(body).toEqual({
      issuer: t.config.jwtIssuer,
      token_endpoint: 'https://auth.coffee.example/v1/auth/login',
      jwks_uri: 'https://auth.coffee.example/.well-known/jwks.json',
      grant_types_supported: ['password', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
    })
  })
})

describe('publishing the keys of the other algorithms', () => {
  it('EdDSA: publishes Ed25519 keys that verify its tokens', async () => {
    const t = await createTestApp({ JWT_ALGORITHM: 'EdDSA' })
    try {
      const user = await verifiedUser(t)
      const { access_token } = await login(t, user.email, user.password)
      expect(decodeProtectedHeader(access_token)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
      const { body } = await getJson(t, '/.well-known/jwks.json')
      expect(body.keys).toHaveLength(2)
      expect(body.keys[0]).toEqual({
        kty: 'OKP',
        crv: 'Ed25519',
        alg: 'EdDSA',
        use: 'sig',
        kid: expect.any(String),
        x: expect.any(String),
      })
      const verified = await jwtVerify(access_token, createLocalJWKSet(body), {
        algorithms: ['EdDSA'],
        currentDate: t.clock.now(),
      })
      expect(verified.payload.sub).toBe(user.id)
    } finally {
      await t.close()
    }
  })

  it('HS256: publishes no key, signs without a kid, and makes no keys', async () => {
    const t = await createTestApp({ JWT_ALGORITHM: 'HS256' })
    try {
      const { response, body } = await getJson(t, '/.well-known/jwks.json')
      expect(response.statusCode).toBe(200)
      expect(body).toEqual({ keys: [] })
      const user = await verifiedUser(t)
      const { access_token } = await login(t, user.email, user.password)
      expect(decodeProtectedHeader(access_token)).toEqual({ alg: 'HS256', typ: 'at+jwt' })
      const me = await t.app.inject({
        method: 'GET',
        url: '/users/me',
        headers: { authorization: `Bearer ${access_token}` },
      })
      expect(me.statusCode).toBe(200)
      expect(await t.db.select().from(signingKeys)).toEqual([])
      const metadata = await getJson(t, '/.well-known/oauth-authorization-server')
      expect(metadata.body.jwks_uri).toBe(`http://localhost:${t.config.port}/.well-known/jwks.json`)
    } finally {
      await t.close()
    }
  })
})
