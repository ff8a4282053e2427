import { composeApi, createCleanupScheduler, databaseLabel, openContext } from './composition.js'
import { startMetricsServer } from './metrics-server.js'
import { closeOnSignals, runMain } from './runtime.js'

/** Config → database → migrations → app → listen; a graceful close on SIGTERM/SIGINT. */
async function main() {
  const context = await openContext()
  const { config, logger } = context
  const api = await composeApi(context)
  // The cleanup also runs here unless RUN_SCHEDULER=false; an advisory lock and the time of
  // the last round in the database keep it to one round per CLEANUP_INTERVAL in total,
  // however many instances and workers share the database.
  const scheduler = config.runScheduler
    ? createCleanupScheduler(context, {
        signingKeys: api.services.signingKeys,
        metrics: api.metrics,
      })
    : null

  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> = null
  const message = 'shutting down: finishing in-flight requests'
  closeOnSignals(logger, { message, timeoutMs: config.shutdownTimeoutMs }, async () => {
    await api.close() // stops accepting, waits for in-flight requests, flushes mail
    await metricsServer?.close()
    await scheduler?.stop() // lets the cleanup batch in flight finish
    await context.database.close()
  })

  await api.app.listen({ port: config.port, host: config.host })
  // With METRICS_PORT, /metrics is there instead of on PORT.
  metricsServer = await startMetricsServer({ config, logger, metrics: api.metrics })
  scheduler?.start()
  const base = `http://localhost:${config.port}`
  logger.info(
    { database: databaseLabel(context) },
    `Coffee Shop API ready: ${base}/docs (Swagger UI), ${base}/redoc (ReDoc)`,
  )
}

runMain(main)
