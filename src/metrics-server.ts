import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { Config } from './core/config.js'
import type { Metrics } from './metrics.js'
import { registerErrorHandlers } from './plugins/error-handler.js'
import { registerMetricsRoute } from './plugins/metrics.js'

export interface MetricsServerDeps {
  config: Pick<Config, 'metricsPort' | 'metricsHost' | 'metricsToken'>
  logger: FastifyBaseLogger
  metrics: Metrics
}

/**
 * `GET /metrics` alone, on METRICS_HOST:METRICS_PORT: an address the public proxy does not
 * reach, for the API (which then stops serving it on PORT) and the worker (which serves
 * no other HTTP). Null when METRICS_PORT is unset. METRICS_TOKEN applies here too.
 */
export async function startMetricsServer({ config, logger, metrics }: MetricsServerDeps) {
  if (config.metricsPort === null) return null
  const app = Fastify({ loggerInstance: logger, disableRequestLogging: true })
  registerErrorHandlers(app)
  registerMetricsRoute(app, metrics, config)
  await app.listen({ port: config.metricsPort, host: config.metricsHost })
  logger.info(
    { address: `${config.metricsHost}:${config.metricsPort}` },
    'metrics listener ready: GET /metrics',
  )
  return app
}
