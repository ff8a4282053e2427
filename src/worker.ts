import { systemClock } from './core/clock.js'
import { closeOnSignals, openRuntime, runMain } from './runtime.js'
import { createScheduler } from './scheduler.js'
import { createKeyServices } from './services/index.js'

/**
 * `npm run worker`: the scheduler alone, no HTTP. One log line per cleanup round, one per
 * signing-key change (SIGNING_KEY_ROTATION, deletion of keys no token needs).
 */
async function main() {
  // One connection does a round (lock + batches); one spare for migrations.
  const { config, logger, database, databaseLabel } = await openRuntime({ poolMax: 2 })
  const clock = systemClock
  const { signingKeys } = createKeyServices({ config, database, clock, logger })
  const scheduler = createScheduler({ database, config, clock, logger, signingKeys })
  closeOnSignals(logger, 'shutting down: finishing the current batch', async () => {
    await scheduler.stop()
    await database.close()
  })

  scheduler.start()
  logger.info(
    {
      database: databaseLabel,
      intervalMs: config.cleanupIntervalMs,
      unverifiedUserTtlMs: config.unverifiedUserTtlMs,
      signingKeyRotationMs: config.signingKeyRotationMs,
    },
    'cleanup worker started',
  )
}

runMain(main)
