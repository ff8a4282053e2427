import { buildApp } from './app.js'
import { systemClock } from './core/clock.js'
import { createErrorReporter } from './core/sentry.js'
import { createMailer } from './mailer.js'
import { createMetrics } from './metrics.js'
import { closeOnSignals, openRuntime, runMain } from './runtime.js'
import { createScheduler } from './scheduler.js'
import { CLEANUP_KIND_LABELS } from './services/cleanup.js'
import { createServices } from './services/index.js'

/** loadConfig → database → migrations → app → listen; a graceful close on SIGTERM/SIGINT. */
async function main() {
  const { config, logger, database, databaseLabel } = await openRuntime()
  const mailer = createMailer({
    smtpUrl: config.smtpUrl,
    transport: config.mailTransport,
    mailFrom: config.mailFrom,
    logger,
  })
  const metrics = createMetrics({ processMetrics: true })
  // One set of services: the first-admin step and the app share it.
  const services = createServices({ config, database, mailer, clock: systemClock, logger, metrics })
  const firstAdmin = await services.users.ensureFirstAdmin()
  if (firstAdmin) logger.info(`first admin ${firstAdmin.action}: ${firstAdmin.user.email}`)
  const errorReporter = await createErrorReporter(config)
  const app = await buildApp({ config, database, mailer, logger, errorReporter, metrics, services })
  // The cleanup also runs here unless RUN_SCHEDULER=false; an advisory lock keeps it to
  // one process at a time however many instances and workers share the database.
  const scheduler = config.runScheduler
    ? createScheduler({
        database,
        config,
        clock: systemClock,
        logger,
        signingKeys: services.signingKeys,
        onDeleted: (kind, count) =>
          metrics.cleanupDeletions.inc({ kind: CLEANUP_KIND_LABELS[kind] }, count),
      })
    : null

  closeOnSignals(logger, 'shutting down: finishing in-flight requests', async () => {
    await app.close() // stops accepting, waits for in-flight requests
    await scheduler?.stop() // lets the cleanup batch in flight finish
    await mailer.close()
    await database.close()
    await errorReporter?.close()
  })

  await app.listen({ port: config.port, host: config.host })
  scheduler?.start()
  const base = `http://localhost:${config.port}`
  logger.info(
    { database: databaseLabel },
    `Coffee Shop API ready: ${base}/docs (Swagger UI), ${base}/redoc (ReDoc)`,
  )
}

runMain(main)
