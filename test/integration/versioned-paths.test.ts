import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { PASSWORD, postJson, uniqueEmail } from '../helpers/auth-flow.js'
import { contractPaths } from '../helpers/contract.js'
import { expectRateLimited, INVALID_CREDENTIALS } from '../helpers/limits.js'
import { metricValue } from '../helpers/metrics.js'
import { codeFrom } from '../helpers/smtp.js'

/**
 * The API is served under `/v1` and, unlisted, at the same paths without it; the
 * operational routes have no `/v1` form.
 */
const UNVERSIONED_ONLY = /^\/(health\/|metrics$|\.well-known\/)/
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const

describe('the OpenAPI document', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('lists every API route under /v1, the operational routes at their own paths only', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json()
    const paths = Object.keys(document.paths)
    const versioned = paths.filter((path) => path.startsWith('/v1/'))
    const api = contractPaths().filter((path) => !UNVERSIONED_ONLY.test(path))
    expect(versioned.sort()).toEqual(api.map((path) => `/v1${path}`).sort())
    expect(
      paths.filter((path) => !path.startsWith('/v1/') && !UNVERSIONED_ONLY.test(path)),
    ).toEqual([])
    // Each alias is served (it answers, not 404) but never listed.
    for (const path of versioned) {
      const alias = path.slice('/v1'.length)
      expect(paths).not.toContain(alias)
      for (const method of METHODS) {
        if (!document.paths[path][method]) continue
        const url = alias.replace(/\{[^}]+\}/g, '01J00000000000000000000000')
        const response = await t.app.inject({ method: method.toUpperCase() as 'GET', url })
        expect(response.statusCode, `${method} ${alias}`).not.toBe(404)
      }
    }
    expect(document.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl).toBe(
      '/v1/auth/login',
    )
  })

  it('serves the operational routes without a /v1 form', async () => {
    for (const url of [
      '/health/live',
      '/metrics',
      '/openapi.json',
      '/docs',
      '/redoc',
      '/.well-known/jwks.json',
      '/.well-known/oauth-authorization-server',
    ]) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).not.toBe(404)
      expect((await t.app.inject({ method: 'GET', url: `/v1${url}` })).statusCode, url).toBe(404)
    }
  })

  it('points the RFC 8414 token endpoint at /v1/auth/login', async () => {
    const metadata = await t.app.inject({
      method: 'GET',
      url: '/.well-known/oauth-authorization-server',
    })
    expect(metadata.json().token_endpoint).toBe(`${t.config.publicUrl}/v1/auth/login`)
  })

  it('answers the same at /v1 and at the alias, with one account and one token', async () => {
    const email = uniqueEmail()
    const signedUp = await postJson(t, '/v1/auth/signup', { email, password: PASSWORD })
    expect(signedUp.statusCode).toBe(201)
    const code = codeFrom(await t.inbox.waitForMessage(email))
    // Signed up under /v1, verified through the alias: the same account.
    expect((await postJson(t, '/auth/verify', { email, code })).statusCode).toBe(200)
    const login = await postJson(t, '/v1/auth/login', { email, password: PASSWORD })
    expect(login.statusCode).toBe(200)
    const headers = { authorization: `Bearer ${login.json().access_token}` }
    const viaAlias = await t.app.inject({ method: 'GET', url: '/users/me', headers })
    const viaV1 = await t.app.inject({ method: 'GET', url: '/v1/users/me', headers })
    expect(viaAlias.statusCode).toBe(200)
    expect(viaAlias.json()).toEqual(viaV1.json())
    expect(viaAlias.json()).toMatchObject({ id: signedUp.json().id, email })
    expect(viaAlias.headers['cache-control']).toBe(viaV1.headers['cache-control'])
    // Errors too: the same status and body.
    const unauthenticated = await t.app.inject({ method: 'GET', url: '/users/me' })
    const unauthenticatedV1 = await t.app.inject({ method: 'GET', url: '/v1/users/me' })
    expect(unauthenticated.statusCode).toBe(401)
    expect(unauthenticatedV1.statusCode).toBe(401)
    expect(unauthenticated.json()).toEqual(unauthenticatedV1.json())
  })

  it('counts an alias under its /v1 route pattern in /metrics', async () => {
    const labels = { route: '/v1/auth/login', method: 'POST', status_code: '401' }
    const before = await metricValue(t, 'http_requests_total', labels)
    const body = { email: uniqueEmail(), password: PASSWORD }
    expect((await postJson(t, '/auth/login', body)).statusCode).toBe(401)
    expect((await postJson(t, '/v1/auth/login', body)).statusCode).toBe(401)
    expect(await metricValue(t, 'http_requests_total', labels)).toBe(before + 2)
    const aliasLabels = { route: '/auth/login', method: 'POST', status_code: '401' }
    expect(await metricValue(t, 'http_requests_total', aliasLabels)).toBe(0)
  })
})

describe('rate limits', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ RATE_LIMIT_MAX: '100', AUTH_RATE_LIMIT_MAX: '3' })
  })
  afterAll(() => t.close())

  const login = (url: string, remoteAddress: string) =>
    t.app.inject({
      method: 'POST',
      url,
      payload: { email: uniqueEmail(), password: PASSWORD },
      remoteAddress,
    })

  it('share one budget between /v1/auth/login and /auth/login', async () => {
    const urls = ['/auth/login', '/v1/auth/login', '/auth/login']
    for (const url of urls) {
      const response = await login(url, '10.9.0.1')
      expect(response.statusCode, url).toBe(401)
      expect(response.json()).toEqual(INVALID_CREDENTIALS)
    }
    // The fourth request is over AUTH_RATE_LIMIT_MAX whichever form it takes.
    expectRateLimited(await login('/v1/auth/login', '10.9.0.1'), 60)
    expectRateLimited(await login('/auth/login', '10.9.0.1'), 60)
    // Other strict routes keep their own budgets.
    const resend = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/verify/resend',
      payload: { email: uniqueEmail() },
      remoteAddress: '10.9.0.1',
    })
    expect(resend.statusCode).toBe(202)
  })
})
