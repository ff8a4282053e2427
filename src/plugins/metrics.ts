import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Metrics } from '../metrics.js'

/** Requests that matched no route share one label, so scanners cannot explode cardinality. */
const UNMATCHED = '(unmatched)'

type Outcome = (metrics: Metrics, status: number) => void

/**
 * Domain counters read from the outcome of the contract's routes, so the auth routes and
 * services stay free of metrics code. Reuse detections and cleanup deletions happen
 * inside services and are counted there.
 */
const OUTCOMES: Record<string, Outcome> = {
  'POST /auth/signup': (m, status) => {
    if (status === 201) m.signups.inc()
  },
  'POST /auth/verify': (m, status) => {
    if (status === 200) m.verifications.inc()
  },
  'POST /auth/login': (m, status) => {
    if (status === 200) m.logins.inc({ result: 'success' })
    else if (status === 401 || status === 403) m.logins.inc({ result: 'failure' })
  },
  'POST /auth/refresh': (m, status) => {
    if (status === 200) m.tokenRefreshes.inc()
  },
}

interface Series {
  requests: { inc(): void }
  duration: { observe(value: number): void }
  outcome: Outcome | undefined
}

/**
 * The labelled children per route, method and status, looked up once: prom-client hashes
 * the label object on every `inc`/`observe` otherwise. Bounded by the routes times the
 * statuses they answer, as the series themselves are.
 */
function createObserver(metrics: Metrics) {
  const cache = new Map<string, Series>()
  const seriesOf = (route: string, method: string, statusCode: number) => {
    const key = `${method} ${route} ${statusCode}`
    let series = cache.get(key)
    if (!series) {
      const labels = { route, method, status_code: String(statusCode) }
      series = {
        requests: metrics.httpRequests.labels(labels),
        duration: metrics.httpDuration.labels(labels),
        outcome: OUTCOMES[`${method} ${route}`],
      }
      cache.set(key, series)
    }
    return series
  }
  return (request: FastifyRequest, reply: FastifyReply) => {
    const statusCode = reply.statusCode
    const series = seriesOf(request.routeOptions.url ?? UNMATCHED, request.method, statusCode)
    series.requests.inc()
    series.duration.observe(reply.elapsedTime / 1_000)
    series.outcome?.(metrics, statusCode)
  }
}

/** Request count and latency by route pattern, method and status; `GET /metrics`. */
export function registerMetrics(app: FastifyInstance, metrics: Metrics) {
  const observe = createObserver(metrics)
  app.addHook('onResponse', (request, reply, done) => {
    observe(request, reply)
    done()
  })

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        operationId: 'metrics',
        security: [],
        description:
          'Prometheus text format: request counts and latency by route pattern, method and status; process metrics; sign-ups, verifications, logins, refreshes, reuse detections and cleanup deletions.',
        produces: ['text/plain'],
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
      logLevel: 'warn',
    },
    async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  )
}
