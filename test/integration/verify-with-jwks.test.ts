import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAccessTokenVerifier, discoverVerifier } from '../../examples/verify-with-jwks.js'
import { newId } from '../../src/core/ids.js'
import { keysFor } from '../../src/core/keys.js'
import { openPrivateKey } from '../../src/core/signing-keys.js'
import { signingKeys } from '../../src/db/schema.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import { makeUser } from '../helpers/factories.js'
import { forgeJwt } from '../helpers/jwt.js'
import { metricValue } from '../helpers/metrics.js'
import { freePort } from '../helpers/process.js'

/**
 * examples/verify-with-jwks.ts, the verifier another service would run, against the API
 * listening on a real port: it fetches the metadata and the key set over HTTP, as that
 * service would, and knows no secret.
 */
let t: TestApp
let baseUrl: string

beforeAll(async () => {
  const port = await freePort()
  baseUrl = `http://127.0.0.1:${port}`
  t = await createTestApp({ PUBLIC_URL: baseUrl })
  await t.app.listen({ port, host: '127.0.0.1' })
})
afterAll(() => t.close())

const issue = async (role: 'user' | 'admin' = 'user') => {
  const user = await makeUser(t, { role })
  const sessionId = newId()
  return { user, sessionId, token: t.services.tokens.issueAccessToken(user, sessionId).token }
}
const verifier = (overrides: Partial<Parameters<typeof createAccessTokenVerifier>[0]> = {}) =>
  createAccessTokenVerifier({
    jwksUrl: `${baseUrl}/.well-known/jwks.json`,
    issuer: t.config.jwtIssuer,
    audience: t.config.jwtAudience,
    ...overrides,
  })
const jwksFetches = () =>
  metricValue(t, 'http_requests_total', { route: '/.well-known/jwks.json', status_code: '200' })

/** The current key's private half, to sign tokens the API itself never would. */
async function currentPrivateKey() {
  const [row] = await t.db.select().from(signingKeys).where(eq(signingKeys.state, 'current'))
  if (!row?.privateKey) throw new Error('no current key')
  return {
    kid: row.kid,
    key: openPrivateKey(keysFor(TEST_SECRET).signingKeySealing, row.kid, row.privateKey),
  }
}

describe('examples/verify-with-jwks.ts', () => {
  it('verifies an access token with the key set found through the metadata', async () => {
    const { user, sessionId, token } = await issue('admin')
    const verify = await discoverVerifier(baseUrl, t.config.jwtAudience)
    const verified = await verify(token)
    expect(verified).toEqual({
      userId: user.id,
      role: 'admin',
      sessionId,
      tokenId: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
      expiresAt: expect.any(Date),
    })
    const lifetime = verified.expiresAt.getTime() - t.clock.now().getTime()
    expect(lifetime).toBeGreaterThan(t.config.accessTokenTtlMs - 2_000)
    expect(lifetime).toBeLessThanOrEqual(t.config.accessTokenTtlMs)
  })

  it('checks the audience, the issuer and the algorithm', async () => {
    const { token } = await issue()
    await expect(verifier({ audience: 'another-service' })(token)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'aud',
    })
    await expect(verifier({ issuer: 'someone-else' })(token)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    })
    await expect(verifier({ algorithm: 'EdDSA' })(token)).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    })
    await expect(verifier()(token)).resolves.toMatchObject({ role: 'user' })
  })

  it('refuses an expired token', async () => {
    t.clock.advance(-(t.config.accessTokenTtlMs + 60_000))
    const { token } = await issue().finally(() =>
      t.clock.advance(t.config.accessTokenTtlMs + 60_000),
    )
    await expect(verifier()(token)).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
      claim: 'exp',
    })
  })

  it('refuses a JWT of the right key that is not an access token (typ)', async () => {
    const { kid, key } = await currentPrivateKey()
    const user = await makeUser(t)
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      sub: user.id,
      role: 'user',
      iat: now,
      exp: now + 600,
      jti: newId(),
      iss: t.config.jwtIssuer,
      aud: t.config.jwtAudience,
    }
    const verify = verifier()
    await expect(
      verify(forgeJwt({ alg: 'ES256', typ: 'JWT', kid }, claims, key)),
    ).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'typ',
    })
    await expect(verify(forgeJwt({ alg: 'ES256', kid }, claims, key))).rejects.toMatchObject({
      claim: 'typ',
    })
    // The forger is sound: the same token with typ at+jwt passes.
    await expect(
      verify(forgeJwt({ alg: 'ES256', typ: 'at+jwt', kid }, claims, key)),
    ).resolves.toMatchObject({
      userId: user.id,
    })
  })

  it('keeps verifying across a rotation without fetching the key set again', async () => {
    const verify = verifier()
    const before = await jwksFetches()
    await verify((await issue()).token)
    const fetches = await jwksFetches()
    expect(fetches).toBe(before + 1)
    const rotation = await t.services.signingKeys.rotate()
    await t.services.keyStore.reload()
    const { token } = await issue()
    expect(JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid).toBe(
      rotation.current,
    )
    await expect(verify(token)).resolves.toMatchObject({ role: 'user' })
    // The new signing key was published as the next one: the cached set already held it.
    expect(await jwksFetches()).toBe(fetches)
  })

  it('refuses the tokens of a revoked key once it holds the new key set', async () => {
    const { token } = await issue()
    const kid = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid
    await expect(verifier()(token)).resolves.toMatchObject({ role: 'user' })
    expect(await t.services.signingKeys.revoke(kid)).toMatchObject({ status: 'revoked' })
    await t.services.keyStore.reload()
    await expect(verifier()(token)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' })
  })

  it('runs from the command line: the claims, or why the token is refused', async () => {
    const run = promisify(execFile)
    const script = ['--import', 'tsx', 'examples/verify-with-jwks.ts', baseUrl]
    const { user, token } = await issue()
    const ok = await run(process.execPath, [...script, token])
    expect(JSON.parse(ok.stdout)).toMatchObject({ userId: user.id, role: 'user' })
    const refused = await run(process.execPath, [...script, token, 'another-service']).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    )
    expect(refused?.code).toBe(1)
    expect(refused?.stderr).toMatch(/^refused: ERR_JWT_CLAIM_VALIDATION_FAILED: .*"aud"/)
  })
})
