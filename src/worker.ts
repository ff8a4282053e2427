import { join } from 'node:path'
import { systemClock } from './core/clock.js'
import { exitOnConfigError, loadRuntimeConfig } from './core/config.js'
import { createLogger } from './core/logger.js'
import { createDatabase } from './db/client.js'
import { runMigrations } from './db/migrate.js'
import { createScheduler } from './scheduler.js'

/** `npm run worker`: the scheduler alone, no HTTP. One log line per cleanup round. */
async function main() {
  let config: ReturnType<typeof loadRuntimeConfig>
  try {
    config = loadRuntimeConfig()
  } catch (error) {
    exitOnConfigError(error)
  }
  const logger = createLogger(config)
  const database = await createDatabase({
    databaseUrl: config.databaseUrl,
    pglitePath: join(config.dataDir, 'pglite'),
    // One connection does a round (lock + batches); one spare for migrations.
    poolMax: 2,
    onPoolError: (error) => logger.warn({ err: error }, 'idle database connection lost'),
  })
  await runMigrations(database)
  const scheduler = createScheduler({ database, config, clock: systemClock, logger })

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    logger.info({ signal }, 'shutting down: finishing the current batch')
    try {
      await scheduler.stop()
      await database.close()
      logger.info('stopped')
      process.exit(0)
    } catch (error) {
      logger.error({ err: error }, 'error during shutdown')
      process.exit(1)
    }
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))

  scheduler.start()
  logger.info(
    {
      database: database.kind === 'pglite' ? join(config.dataDir, 'pglite') : 'postgres',
      intervalMs: config.cleanupIntervalMs,
      unverifiedUserTtlMs: config.unverifiedUserTtlMs,
    },
    'cleanup worker started',
  )
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
