import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createHttpMetrics } from '../../src/http-metrics.js'

const OBSERVATIONS: [string, string, number, number][] = [
  ['/v1/users/me', 'GET', 200, 0.001],
  ['/v1/users/me', 'GET', 200, 0.005],
  ['/v1/users/me', 'GET', 200, 0.0051],
  ['/v1/users/me', 'GET', 401, 0.3],
  ['/health/live', 'GET', 200, 12],
  ['(unmatched)', 'POST', 404, 0.01],
]

/** What prom-client's own metrics print for the same observations. */
async function promClientText() {
  const registry = new Registry()
  const labelNames = ['route', 'method', 'status_code'] as const
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending the response, in seconds',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  for (const [route, method, status, seconds] of OBSERVATIONS) {
    const labels = { route, method, status_code: String(status) }
    requests.inc(labels)
    duration.observe(labels, seconds)
  }
  return registry.metrics()
}

describe('HTTP metrics', () => {
  it('print what prom-client prints for the same requests', async () => {
    const registry = new Registry()
    const metrics = createHttpMetrics([registry])
    for (const [route, method, status, seconds] of OBSERVATIONS) {
      metrics.series(route, method, status).observe(seconds)
    }
    const text = await registry.metrics()
    expect(text).toBe(await promClientText())
    expect(text).toContain(
      'http_request_duration_seconds_bucket{le="0.005",route="/v1/users/me",method="GET",status_code="200"} 2',
    )
    expect(text).toContain(
      'http_requests_total{route="/v1/users/me",method="GET",status_code="200"} 3',
    )
  })

  it('hand out one series per route, method and status', async () => {
    const registry = new Registry()
    const metrics = createHttpMetrics([registry])
    metrics.series('/health/live', 'GET', 200).observe(0.001)
    metrics.series('/health/live', 'GET', 200).observe(0.002)
    const json = await registry.getMetricsAsJSON()
    const requests = json.find((metric) => metric.name === 'http_requests_total')
    expect(requests?.values).toEqual([
      { labels: { route: '/health/live', method: 'GET', status_code: '200' }, value: 2 },
    ])
    const duration = json.find((metric) => metric.name === 'http_request_duration_seconds')
    expect(duration?.values.at(-1)).toEqual({
      labels: { route: '/health/live', method: 'GET', status_code: '200' },
      value: 2,
      metricName: 'http_request_duration_seconds_count',
    })
  })
})
