import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'

const SHOP = 'https://shop.example.com'
let t: TestApp
let withCors: TestApp

beforeAll(async () => {
  t = await createTestApp()
  withCors = await createTestApp({ CORS_ORIGINS: `${SHOP}, https://admin.example.com` })
})
afterAll(async () => {
  await t.close()
  await withCors.close()
})

describe('security headers', () => {
  it.each([
    ['GET', '/health/live', 200],
    ['GET', '/no/such/route', 404],
    ['POST', '/auth/login', 422],
  ] as const)('are on every response: %s %s', async (method, url, status) => {
    const response = await t.app.inject({
      method,
      url,
      payload: method === 'POST' ? {} : undefined,
    })
    expect(response.statusCode).toBe(status)
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['x-frame-options']).toBe('DENY')
    expect(response.headers['referrer-policy']).toBe('no-referrer')
    const csp = String(response.headers['content-security-policy'])
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).not.toContain('upgrade-insecure-requests')
    expect(response.headers).not.toHaveProperty('x-powered-by')
  })

  it('let Swagger UI load its own scripts and styles', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs/' })
    expect(page.statusCode).toBe(200)
    const csp = String(page.headers['content-security-policy'])
    expect(csp).toMatch(/script-src 'self'/)
    expect(csp).toMatch(/style-src 'self'/)
    for (const asset of ['swagger-ui-bundle.js', 'swagger-initializer.js', 'swagger-ui.css']) {
      expect(page.body).toContain(`./static/${asset}`)
      const file = await t.app.inject({ method: 'GET', url: `/docs/static/${asset}` })
      expect(file.statusCode).toBe(200)
    }
  })

  it('leave /redoc its own CSP (one header, no CDN images)', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/redoc' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'",
    )
    expect(page.headers['x-content-type-options']).toBe('nosniff')
  })
})

describe('CORS', () => {
  const preflight = (app: TestApp, origin: string) =>
    app.app.inject({
      method: 'OPTIONS',
      url: '/auth/login',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })

  it('is off by default: no origin is allowed', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { origin: SHOP },
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers).not.toHaveProperty('access-control-allow-origin')
    expect((await preflight(t, SHOP)).headers).not.toHaveProperty('access-control-allow-origin')
  })

  it('allows exactly the configured origins, without credentials', async () => {
    const response = await preflight(withCors, SHOP)
    expect(response.statusCode).toBe(204)
    expect(response.headers['access-control-allow-origin']).toBe(SHOP)
    expect(response.headers).not.toHaveProperty('access-control-allow-credentials')
    expect(String(response.headers['access-control-allow-methods'])).toContain('POST')

    const simple = await withCors.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { origin: SHOP },
    })
    expect(simple.headers['access-control-allow-origin']).toBe(SHOP)
    expect(String(simple.headers['access-control-expose-headers'])).toContain('Retry-After')
  })

  it('never answers another origin, nor with a wildcard', async () => {
    const response = await preflight(withCors, 'https://evil.example.com')
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    const simple = await withCors.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { origin: 'https://evil.example.com' },
    })
    expect(simple.headers['access-control-allow-origin']).toBeUndefined()
  })
})

describe('body size limit', () => {
  it('answers 413 in the contract shape for a body over the limit', async () => {
    const oversized = { email: 'a@example.com', password: 'x'.repeat(t.config.bodyLimitBytes) }
    const response = await t.app.inject({ method: 'POST', url: '/auth/signup', payload: oversized })
    expect(response.statusCode).toBe(413)
    expect(response.json()).toEqual({
      detail: 'Request body is too large',
      code: 'payload_too_large',
    })
  })

  it('accepts a body just under the limit (and validates it)', async () => {
    const payload = JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(1_000) })
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/signup',
      payload,
      headers: { 'content-type': 'application/json' },
    })
    expect(response.statusCode).toBe(422)
  })
})
