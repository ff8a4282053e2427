import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/core/config.js'
import { createMetrics } from '../../src/metrics.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'

// The separate listener (METRICS_PORT) is proven on a real process, with the token, in
// monitoring-metrics.test.ts; this file covers the token on the API's own port.
const TOKEN = 'a-metrics-token-of-at-least-32-bytes-0123456789'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp({ METRICS_TOKEN: TOKEN })
})
afterAll(() => t.close())

const metrics = (authorization?: string) =>
  t.app.inject({
    method: 'GET',
    url: '/metrics',
    headers: authorization === undefined ? {} : { authorization },
  })

describe('METRICS_TOKEN', () => {
  it('refuses /metrics without the token, with the API error shape', async () => {
    const response = await metrics()
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toBe('Bearer')
    expect(response.json()).toEqual({ detail: 'Not authenticated', code: 'not_authenticated' })
    expect(response.body).not.toContain('http_requests_total')
  })

  it('refuses a wrong token, of the same length or not, and another scheme', async () => {
    const sameLength = `${TOKEN.slice(0, -1)}0`
    for (const authorization of [
      `Bearer ${sameLength}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, 8)}`,
      TOKEN,
      `Basic ${TOKEN}`,
      `Bearer  ${TOKEN}`,
    ]) {
      expect((await metrics(authorization)).statusCode, authorization).toBe(401)
    }
  })

  it('serves the metrics to the right token', async () => {
    const response = await metrics(`Bearer ${TOKEN}`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(response.body).toContain('# TYPE database_up gauge')
    expect(response.body).toMatch(/^database_up 1$/m)
  })

  it('leaves the other routes alone', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
  })
})

describe('metrics settings', () => {
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig({ SECRET_KEY: TEST_SECRET, ...env })
    } catch (error) {
      if (error instanceof ConfigError) return error.problems
      throw error
    }
    return []
  }

  it('refuses a short token without echoing it, and METRICS_PORT equal to PORT', () => {
    expect(problemsOf({ METRICS_TOKEN: 'short-token' })).toEqual([
      'METRICS_TOKEN: must be at least 32 bytes',
    ])
    expect(problemsOf({ PORT: '9100', METRICS_PORT: '9100' })).toEqual([
      'METRICS_PORT: must differ from PORT (it is a second listener) (got "9100")',
    ])
    expect(problemsOf({ PORT: '8000', METRICS_PORT: '9100' })).toEqual([])
  })
})

describe('database_up', () => {
  it('is 0 when the database does not answer, 1 when it does', async () => {
    let up = false
    const { registry } = createMetrics({
      pingDatabase: async () => {
        if (!up) throw new Error('timed out')
      },
    })
    expect(await registry.getSingleMetricAsString('database_up')).toMatch(/^database_up 0$/m)
    up = true
    expect(await registry.getSingleMetricAsString('database_up')).toMatch(/^database_up 1$/m)
  })

  it('is not exported by a registry that cannot ping', async () => {
    expect(await createMetrics().registry.metrics()).not.toContain('database_up')
  })
})
