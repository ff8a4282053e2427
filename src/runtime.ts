import { join } from 'node:path'
import type { Logger } from 'pino'
import { type Config, exitOnConfigError, loadRuntimeConfig } from './core/config.js'
import { createLogger } from './core/logger.js'
import { createDatabase, type Database } from './db/client.js'
import { runMigrations } from './db/migrate.js'

export interface Runtime {
  config: Readonly<Config>
  logger: Logger
  database: Database
  /** What the log says the process runs on. */
  databaseLabel: string
}

/**
 * What every long-running entry point (API, worker) does first: load and validate the
 * configuration (a bad value exits with one line per variable), open the database and
 * apply the migrations.
 */
export async function openRuntime(options: { poolMax?: number } = {}): Promise<Runtime> {
  let config: Readonly<Config>
  try {
    config = loadRuntimeConfig()
  } catch (error) {
    exitOnConfigError(error)
  }
  const logger = createLogger(config)
  const pglitePath = join(config.dataDir, 'pglite')
  const database = await createDatabase({
    databaseUrl: config.databaseUrl,
    pglitePath,
    poolMax: options.poolMax,
    onPoolError: (error) => logger.warn({ err: error }, 'idle database connection lost'),
  })
  await runMigrations(database)
  return {
    config,
    logger,
    database,
    databaseLabel: database.kind === 'pglite' ? pglitePath : 'postgres',
  }
}

/**
 * Runs `close` once on the first SIGTERM or SIGINT, then exits 0 (1 if closing failed).
 * `close` is where each entry point finishes its in-flight work in order.
 */
export function closeOnSignals(logger: Logger, message: string, close: () => Promise<void>) {
  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    logger.info({ signal }, message)
    try {
      await close()
      logger.info('stopped')
      process.exit(0)
    } catch (error) {
      logger.error({ err: error }, 'error during shutdown')
      process.exit(1)
    }
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
}

/** The entry points' last resort: print and exit non-zero. */
export function runMain(main: () => Promise<void>) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
