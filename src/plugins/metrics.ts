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

function observe(metrics: Metrics, request: FastifyRequest, reply: FastifyReply) {
  const route = request.routeOptions.url ?? UNMATCHED
  const labels = { route, method: request.method, status_code: String(reply.statusCode) }
  metrics.httpRequests.inc(labels)
  metrics.httpDuration.observe(labels, reply.elapsedTime / 1_000)
  OUTCOMES[`${request.method} ${route}`]?.(metrics, reply.statusCode)
}

/** Request count and latency by route pattern, method and status; `GET /metrics`. */
export function registerMetrics(app: FastifyInstance, metrics: Metrics) {
  app.addHook('onResponse', async (request, reply) => observe(metrics, request, reply))

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
