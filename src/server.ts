import { join } from 'node:path'
import { buildApp } from './app.js'
import { systemClock } from './core/clock.js'
import { exitOnConfigError, loadRuntimeConfig } from './core/config.js'
import { createLogger } from './core/logger.js'
import { createErrorReporter } from './core/sentry.js'
import { createDatabase } from './db/client.js'
import { runMigrations } from './db/migrate.js'
import { createMailer } from './mailer.js'
import { createMetrics } from './metrics.js'
import { createScheduler } from './scheduler.js'
import { CLEANUP_KIND_LABELS } from './services/cleanup.js'
import { createServices } from './services/index.js'

/** loadConfig → database → migrations → app → listen; a graceful close on SIGTERM/SIGINT. */
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
    onPoolError: (error) => logger.warn({ err: error }, 'idle database connection lost'),
  })
  await runMigrations(database)
  const mailer = createMailer({ smtpUrl: config.smtpUrl, mailFrom: config.mailFrom, logger })
  const services = createServices({ config, database, mailer, clock: systemClock })
  const firstAdmin = await services.users.ensureFirstAdmin()
  if (firstAdmin) logger.info(`first admin ${firstAdmin.action}: ${firstAdmin.user.email}`)
  const errorReporter = await createErrorReporter(config)
  const metrics = createMetrics({ processMetrics: true })
  const app = await buildApp({ config, database, mailer, logger, errorReporter, metrics })
  // The cleanup also runs here unless RUN_SCHEDULER=false; an advisory lock keeps it to
  // one process at a time however many instances and workers share the database.
  const scheduler = config.runScheduler
    ? createScheduler({
        database,
        config,
        clock: systemClock,
        logger,
        onDeleted: (kind, count) =>
          metrics.cleanupDeletions.inc({ kind: CLEANUP_KIND_LABELS[kind] }, count),
      })
    : null

  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    logger.info({ signal }, 'shutting down: finishing in-flight requests')
    try {
      await app.close() // stops accepting, waits for in-flight requests
      await scheduler?.stop() // lets the cleanup batch in flight finish
      await mailer.close()
      await database.close()
      await errorReporter?.close()
      logger.info('stopped')
      process.exit(0)
    } catch (error) {
      logger.error({ err: error }, 'error during shutdown')
      process.exit(1)
    }
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))

  await app.listen({ port: config.port, host: config.host })
  scheduler?.start()
  const base = `http://localhost:${config.port}`
  logger.info(
    { database: database.kind === 'pglite' ? join(config.dataDir, 'pglite') : 'postgres' },
    `Coffee Shop API ready: ${base}/docs (Swagger UI), ${base}/redoc (ReDoc)`,
  )
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
