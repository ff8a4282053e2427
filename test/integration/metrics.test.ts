import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { PASSWORD } from '../helpers/factories.js'
import { metricValue, parseMetrics } from '../helpers/metrics.js'
import { codeFrom } from '../helpers/smtp.js'

let t: TestApp
let counter = 0
const email = () => `metrics-${++counter}-${Date.now()}@example.com`
const post = (url: string, payload: Record<string, unknown>) =>
  t.app.inject({ method: 'POST', url, payload })

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

describe('the Prometheus endpoint', () => {
  it('serves the Prometheus text format with process metrics', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const names = new Set(parseMetrics(response.body).map((s) => s.name))
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(names).toContain(name)
    }
    expect(response.body).toContain('# TYPE http_request_duration_seconds histogram')
  })

  it('counts requests and latency by route pattern, method and status', async () => {
    const labels = { route: '/health/live', method: 'GET', status_code: '200' }
    const before = await metricValue(t, 'http_requests_total', labels)
    const observedBefore = await metricValue(t, 'http_request_duration_seconds_count', labels)
    await t.app.inject({ method: 'GET', url: '/health/live' })
    await t.app.inject({ method: 'GET', url: '/health/live?probe=1' })
    expect(await metricValue(t, 'http_requests_total', labels)).toBe(before + 2)
    expect(await metricValue(t, 'http_request_duration_seconds_count', labels)).toBe(
      observedBefore + 2,
    )
    const bucket = await metricValue(t, 'http_request_duration_seconds_bucket', {
      ...labels,
      le: '+Inf',
    })
    expect(bucket).toBe(observedBefore + 2)
  })

  it('labels requests with the route pattern, never the raw URL', async () => {
    const id = '01JD0000000000000000000000'
    const missing = await t.app.inject({ method: 'GET', url: `/no/such/${id}` })
    expect(missing.statusCode).toBe(404)
    const invalid = await t.app.inject({ method: 'GET', url: '/users/not-a-ulid' })
    expect(invalid.statusCode).toBe(401)
    const response = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(response.body).not.toContain(id)
    expect(response.body).not.toContain('not-a-ulid')
    const samples = parseMetrics(response.body).filter((s) => s.name === 'http_requests_total')
    expect(samples).toContainEqual({
      name: 'http_requests_total',
      labels: { route: '(unmatched)', method: 'GET', status_code: '404' },
      value: 1,
    })
    // The unversioned alias counts under its /v1 route pattern.
    expect(samples).toContainEqual({
      name: 'http_requests_total',
      labels: { route: '/v1/users/:id', method: 'GET', status_code: '401' },
      value: 1,
    })
  })

  it('is documented in OpenAPI under operations', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json()
    expect(document.paths['/metrics'].get.tags).toEqual(['operations'])
  })
})

describe('domain counters', () => {
  it('move with sign-ups, verifications, logins and refreshes', async () => {
    const before = {
      signups: await metricValue(t, 'auth_signups_total'),
      verifications: await metricValue(t, 'auth_verifications_total'),
      success: await metricValue(t, 'auth_logins_total', { result: 'success' }),
      failure: await metricValue(t, 'auth_logins_total', { result: 'failure' }),
      refreshes: await metricValue(t, 'auth_token_refreshes_total'),
    }
    const address = email()
    expect((await post('/auth/signup', { email: address, password: PASSWORD })).statusCode).toBe(
      201,
    )
    expect(await metricValue(t, 'auth_signups_total')).toBe(before.signups + 1)

    const unverified = await post('/auth/login', { email: address, password: PASSWORD })
    expect(unverified.statusCode).toBe(403)
    const code = codeFrom(await t.inbox.waitForMessage(address, 1))
    expect((await post('/auth/verify', { email: address, code })).statusCode).toBe(200)
    expect(await metricValue(t, 'auth_verifications_total')).toBe(before.verifications + 1)

    const wrong = await post('/auth/login', { email: address, password: `${PASSWORD}x` })
    expect(wrong.statusCode).toBe(401)
    const login = await post('/auth/login', { email: address, password: PASSWORD })
    expect(login.statusCode).toBe(200)
    expect(await metricValue(t, 'auth_logins_total', { result: 'success' })).toBe(
      before.success + 1,
    )
    expect(await metricValue(t, 'auth_logins_total', { result: 'failure' })).toBe(
      before.failure + 2,
    )

    const refreshed = await post('/auth/refresh', { refresh_token: login.json().refresh_token })
    expect(refreshed.statusCode).toBe(200)
    expect(await metricValue(t, 'auth_token_refreshes_total')).toBe(before.refreshes + 1)
  })

  it('counts failed code attempts by purpose', async () => {
    const failures = (purpose: string) => metricValue(t, 'auth_code_failures_total', { purpose })
    const before = {
      verify: await failures('verify_email'),
      reset: await failures('reset_password'),
    }
    const address = email()
    await post('/auth/signup', { email: address, password: PASSWORD })
    const code = codeFrom(await t.inbox.waitForMessage(address, 1))
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0')
    expect((await post('/auth/verify', { email: address, code: wrong })).statusCode).toBe(400)
    expect((await post('/auth/verify', { email: email(), code })).statusCode).toBe(400)
    const reset = { email: address, code: wrong, new_password: 'ristretto-for-two-88' }
    expect((await post('/auth/password/reset', reset)).statusCode).toBe(400)
    expect(await failures('verify_email')).toBe(before.verify + 2)
    expect(await failures('reset_password')).toBe(before.reset + 1)
    // The right code is no failure.
    expect((await post('/auth/verify', { email: address, code })).statusCode).toBe(200)
    expect(await failures('verify_email')).toBe(before.verify + 2)
  })

  it('counts a refresh-token reuse detection', async () => {
    const address = email()
    await post('/auth/signup', { email: address, password: PASSWORD })
    const code = codeFrom(await t.inbox.waitForMessage(address, 1))
    await post('/auth/verify', { email: address, code })
    const login = await post('/auth/login', { email: address, password: PASSWORD })
    const first = login.json().refresh_token as string
    expect((await post('/auth/refresh', { refresh_token: first })).statusCode).toBe(200)
    const before = await metricValue(t, 'auth_refresh_reuse_detections_total')
    t.clock.advance(t.config.refreshReuseGraceMs + 1_000)
    const reused = await post('/auth/refresh', { refresh_token: first })
    expect(reused.statusCode).toBe(401)
    expect(await metricValue(t, 'auth_refresh_reuse_detections_total')).toBe(before + 1)
  })
})
