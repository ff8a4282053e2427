import {
  createCleanupScheduler,
  createProcessMetrics,
  databaseLabel,
  openContext,
} from './composition.js'
import { startMetricsServer } from './metrics-server.js'
import { closeOnSignals, runMain } from './runtime.js'
import { createKeyServices } from './services/index.js'

/**
 * `npm run worker`: the scheduler alone, no API. One log line per cleanup round, one per
 * signing-key change (SIGNING_KEY_ROTATION, deletion of keys no token needs). With
 * METRICS_PORT, `GET /metrics` on that port: cleanup rounds, process, `database_up`.
 */
async function main() {
  // One connection does a round (lock + batches); one spare for migrations.
  const context = await openContext({ poolMax: 2 })
  const { config, logger } = context
  const { signingKeys } = createKeyServices(context)
  const metrics = createProcessMetrics(context)
  const scheduler = createCleanupScheduler(context, { signingKeys, metrics })
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> = null
  const message = 'shutting down: finishing the current batch'
  closeOnSignals(logger, { message, timeoutMs: config.shutdownTimeoutMs }, async () => {
    await metricsServer?.close()
    await scheduler.stop()
    await context.database.close()
  })

  metricsServer = await startMetricsServer({ config, logger, metrics })
  scheduler.start()
  logger.info(
    {
      database: databaseLabel(context),
      intervalMs: config.cleanupIntervalMs,
      unverifiedUserTtlMs: config.unverifiedUserTtlMs,
      auditRetentionMs: config.auditRetentionMs,
      signingKeyRotationMs: config.signingKeyRotationMs,
    },
    'cleanup worker started',
  )
}

runMain(main)
