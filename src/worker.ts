import { systemClock } from './core/clock.js'
import { closeOnSignals, openRuntime, runMain } from './runtime.js'
import { createScheduler } from './scheduler.js'

/** `npm run worker`: the scheduler alone, no HTTP. One log line per cleanup round. */
async function main() {
  // One connection does a round (lock + batches); one spare for migrations.
  const { config, logger, database, databaseLabel } = await openRuntime({ poolMax: 2 })
  const scheduler = createScheduler({ database, config, clock: systemClock, logger })
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
    },
    'cleanup worker started',
  )
}

runMain(main)
