import { createHash } from 'node:crypto'
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Config } from '../core/config.js'
import { unauthorized } from '../core/errors.js'
import { safeEqual } from '../core/security.js'
import type { HttpSeries } from '../http-metrics.js'
import type { Metrics } from '../metrics.js'

/** Requests that matched no route share one label, so scanners cannot explode cardinality. */
const UNMATCHED = '(unmatched)'

type Count = (metrics: Metrics, status: number) => void

/**
 * Domain counters fed by the answers of the routes that declare an `outcome` in their
 * config, so the auth routes and services stay free of metrics code. Reuse detections
 * and cleanup deletions happen inside services and are counted there.
 */
const OUTCOMES = {
  signup: (m, status) => {
    if (status === 201) m.signups.inc()
  },
  verification: (m, status) => {
    if (status === 200) m.verifications.inc()
  },
  login: (m, status) => {
    if (status === 200) m.logins.inc({ result: 'success' })
    else if (status === 401 || status === 403) m.logins.inc({ result: 'failure' })
  },
  refresh: (m, status) => {
    if (status === 200) m.tokenRefreshes.inc()
  },
} satisfies Record<string, Count>

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The domain counter of /metrics this route's answer feeds. */
    outcome?: keyof typeof OUTCOMES
  }
}

const outcomeOf = (config: FastifyContextConfig | undefined) =>
  config?.outcome === undefined ? undefined : OUTCOMES[config.outcome]

interface Series {
  http: HttpSeries
  outcome: Count | undefined
}

/**
 * The series of each route (keyed by its config object, one per route), status and
 * method, looked up once: no label object, key string or hash per request.
 */
function createObserver(metrics: Metrics) {
  const routes = new WeakMap<FastifyContextConfig, Map<number | string, Series>>()
  const seriesOf = (request: FastifyRequest, statusCode: number) => {
    const { config, url } = request.routeOptions
    let known = routes.get(config)
    if (!known) {
      known = new Map()
      routes.set(config, known)
    }
    const method = request.method
    // Most routes answer one method: the status alone is the key then.
    const key = method === config.method ? statusCode : `${method} ${statusCode}`
    let series = known.get(key)
    if (!series) {
      // An unversioned alias counts under its /v1 pattern: one series per operation.
      const route = config.versionedUrl ?? url ?? UNMATCHED
      series = {
        http: metrics.http.series(route, method, statusCode),
        outcome: outcomeOf(config),
      }
      known.set(key, series)
    }
    return series
  }
  return (request: FastifyRequest, reply: FastifyReply) => {
    const statusCode = reply.statusCode
    const series = seriesOf(request, statusCode)
    series.http.observe(reply.elapsedTime / 1_000)
    series.outcome?.(metrics, statusCode)
  }
}

/** Who may read /metrics: anyone that reaches it, or the holder of METRICS_TOKEN. */
export type MetricsAccess = Pick<Config, 'metricsToken'>

const digest = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * `Authorization: Bearer <METRICS_TOKEN>` or 401. Both sides are hashed first, so the
 * constant-time comparison takes as long whatever the length of what was sent.
 */
function requireToken(token: string) {
  const expected = digest(`Bearer ${token}`)
  return async (request: FastifyRequest) => {
    if (!safeEqual(digest(request.headers.authorization ?? ''), expected)) {
      throw unauthorized('not_authenticated', 'Not authenticated')
    }
  }
}

/** `GET /metrics`, on the API's port or on the METRICS_PORT listener (metrics-server.ts). */
export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: Metrics,
  access: MetricsAccess,
) {
  const token = access.metricsToken
  app.get(
    '/metrics',
    {
      onRequest: token === null ? [] : [requireToken(token)],
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        operationId: 'metrics',
        security: [],
        description:
          'Prometheus text format: request counts and latency by route pattern, method and status; process metrics; database reachability; sign-ups, verifications, logins, refreshes, reuse detections, cleanup rounds and deletions. With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` is answered (401 otherwise); with METRICS_PORT set, served on that port instead of this one.',
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

/**
 * Request count and latency by route pattern, method and status; `GET /metrics` unless
 * METRICS_PORT moves it to a listener of its own.
 */
export function registerMetrics(
  app: FastifyInstance,
  metrics: Metrics,
  config: MetricsAccess & Pick<Config, 'metricsPort'>,
) {
  const observe = createObserver(metrics)
  app.addHook('onResponse', (request, reply, done) => {
    observe(request, reply)
    done()
  })
  if (config.metricsPort === null) registerMetricsRoute(app, metrics, config)
}
