import { join } from 'node:path'
import { type DestinationStream, destination, type Logger } from 'pino'
import { buildApp, READY_TIMEOUT_MS } from './app.js'
import { type Clock, systemClock } from './core/clock.js'
import { type Config, loadConfig, loadRuntimeConfig, readEnvironment } from './core/config.js'
import { StartupError } from './core/errors.js'
import { createLogger } from './core/logger.js'
import { createErrorReporter } from './core/sentry.js'
import { createDatabase, type Database } from './db/client.js'
import { runMigrations } from './db/migrate.js'
import { createMailer } from './mailer.js'
import { createMetrics, type Metrics } from './metrics.js'
import { createScheduler, type SchedulerDeps } from './scheduler.js'
import { CLEANUP_KIND_LABELS } from './services/cleanup.js'
import { createServices } from './services/index.js'

/*
 * The composition root: every entry point (server, worker, CLI commands, migrations) and
 * the tests open what they run on, and build the services and the app, here. Each takes
 * only the parts it needs: the worker no HTTP, `migrate` no secret, the CLI no mail.
 */

/** What every process opens first; the tests build one of their own. */
export interface Context {
  config: Readonly<Config>
  logger: Logger
  /** Migrated. Closed by whoever opened the context. */
  database: Database
  clock: Clock
}

export interface OpenOptions {
  /** Connections in the pool (server only): the worker and the CLI need two. */
  poolMax?: number
  /** Where log lines go; the CLI sends them to stderr, keeping stdout for its output. */
  logDestination?: DestinationStream
  /**
   * False for what never signs or seals (`migrate`): outside production no SECRET_KEY is
   * then generated into the data folder for it.
   */
  secretKey?: boolean
}

/** The configured mailer (SMTP or the log), for the API and the commands that send e-mail. */
export function openMailer({ config, logger }: Pick<Context, 'config' | 'logger'>) {
  return createMailer({
    smtpUrl: config.smtpUrl,
    transport: config.mailTransport,
    mailFrom: config.mailFrom,
    logger,
  })
}

/**
 * The environment (and `.env`) → validated config → logger → database → migrations.
 * A bad setting throws a ConfigError naming each variable; an unreachable database, a
 * StartupError.
 */
export async function openContext(options: OpenOptions = {}): Promise<Context> {
  const config = options.secretKey === false ? loadConfig(readEnvironment()) : loadRuntimeConfig()
  const logger = createLogger(config, options.logDestination)
  const database = await openDatabase(config, logger, options.poolMax)
  return { config, logger, database, clock: systemClock }
}

/** Where the CLI logs: stderr, synchronously (the process exits right after its command). */
export const stderrLog = (): DestinationStream => destination({ dest: 2, sync: true })

const pglitePath = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, 'pglite')

async function openDatabase(config: Readonly<Config>, logger: Logger, poolMax?: number) {
  let database: Database | undefined
  try {
    database = await createDatabase({
      databaseUrl: config.databaseUrl,
      pglitePath: pglitePath(config),
      poolMax,
      onPoolError: (error) => logger.warn({ err: error }, 'idle database connection lost'),
    })
    await runMigrations(database)
    return database
  } catch (error) {
    await database?.close().catch(() => {})
    throw asStartupError(error)
  }
}

/**
 * A driver or system error (it carries a `code`: ECONNREFUSED, SQLSTATE 28P01 bad
 * password, 3D000 no such database, 42501 no right to migrate) is the operator's to fix:
 * one line. Anything else is a bug and keeps its stack.
 */
function asStartupError(error: unknown): unknown {
  if (error instanceof StartupError || !(error instanceof Error)) return error
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return error
  // Node reports a refused connection to every address of a name as an AggregateError
  // with an empty message.
  const inner = error instanceof AggregateError ? (error.errors[0] as Error | undefined) : undefined
  const reason = error.message || inner?.message || code
  return new StartupError(`database: ${reason}`, { cause: error })
}

/** What the log says the process runs on. */
export function databaseLabel(context: Context): string {
  return context.database.kind === 'pglite' ? pglitePath(context.config) : 'postgres'
}

/**
 * The scheduled work over a context: the server's, the worker's, `cli cleanup`'s. With
 * `signingKeys`, each round also rotates and prunes the signing keys; with `metrics`, the
 * cleanup's deletions are counted in /metrics.
 */
export function createCleanupScheduler(
  context: Context,
  parts: { signingKeys?: SchedulerDeps['signingKeys']; metrics?: Metrics } = {},
) {
  const { config, database, clock, logger } = context
  const { signingKeys, metrics } = parts
  metrics?.cleanupInterval.set(config.cleanupIntervalMs / 1_000)
  return createScheduler({
    database,
    config,
    clock,
    logger,
    signingKeys,
    onDeleted:
      metrics &&
      ((kind, count) => metrics.cleanupDeletions.inc({ kind: CLEANUP_KIND_LABELS[kind] }, count)),
    onRound:
      metrics &&
      ((result) => {
        metrics.cleanupRuns.inc({ result })
        if (result === 'ran') metrics.cleanupLastSuccess.setToCurrentTime()
      }),
  })
}

/** What a long-running process (API, worker) exports: process metrics, `database_up`. */
export const createProcessMetrics = ({ database }: Pick<Context, 'database'>) =>
  createMetrics({ processMetrics: true, pingDatabase: () => database.ping(READY_TIMEOUT_MS) })

/**
 * The HTTP API over a context: mailer, metrics, services, the first admin, error
 * reporting and the app, not yet listening. The server and the tests build it here, so
 * the tests run the production wiring.
 */
export async function composeApi(context: Context) {
  const { config, logger } = context
  const mailer = openMailer(context)
  const metrics = createProcessMetrics(context)
  // One set of services: the first-admin step and the app share it.
  const services = createServices({ ...context, mailer, metrics })
  const firstAdmin = await services.users.ensureFirstAdmin()
  if (firstAdmin) logger.info(`first admin ${firstAdmin.action}: ${firstAdmin.user.email}`)
  const errorReporter = await createErrorReporter(config)
  const app = await buildApp({ ...context, metrics, services, errorReporter })
  return {
    app,
    services,
    metrics,
    errorReporter,
    /** Stops accepting, lets requests in flight finish, then flushes mail and Sentry. */
    async close() {
      await app.close()
      await mailer.close()
      await errorReporter?.close()
    },
  }
}

export type Api = Awaited<ReturnType<typeof composeApi>>
