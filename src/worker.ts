import { createCleanupScheduler, databaseLabel, openContext } from './composition.js'
import { closeOnSignals, runMain } from './runtime.js'
import { createKeyServices } from './services/index.js'

/**
 * `npm run worker`: the scheduler alone, no HTTP. One log line per cleanup round, one per
 * signing-key change (SIGNING_KEY_ROTATION, deletion of keys no token needs).
 */
async function main() {
  // One connection does a round (lock + batches); one spare for migrations.
  const context = await openContext({ poolMax: 2 })
  const { config, logger } = context
  const { signingKeys } = createKeyServices(context)
  const scheduler = createCleanupScheduler(context, { signingKeys })
  const message = 'shutting down: finishing the current batch'
  closeOnSignals(logger, { message, timeoutMs: config.shutdownTimeoutMs }, async () => {
    await scheduler.stop()
    await context.database.close()
  })

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
