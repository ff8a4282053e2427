import type { DestinationStream } from 'pino'
import { buildApp } from '../../src/app.js'
import type { Clock } from '../../src/core/clock.js'
import { type Env, loadConfig } from '../../src/core/config.js'
import { createLogger } from '../../src/core/logger.js'
import type { Database } from '../../src/db/client.js'
import { createMailer } from '../../src/mailer.js'
import { createMetrics } from '../../src/metrics.js'
import { createServices } from '../../src/services/index.js'
import { createTestDatabase, type TestDatabase } from './database.js'
import { startSmtpServer } from './smtp.js'

export const TEST_SECRET = 'test-secret-key-0123456789abcdef0123456789abcdef'

/** A clock the test moves by hand: `clock.advance(16 * 60_000)` instead of sleeping. */
export function createTestClock(
  start = new Date(),
): Clock & { set(date: Date): void; advance(ms: number): void } {
  let current = start.getTime()
  return {
    now: () => new Date(current),
    set: (date) => {
      current = date.getTime()
    },
    advance: (ms) => {
      current += ms
    },
  }
}

/** The tests' configuration: `env` overrides it as strings, as an operator would. */
const testConfig = (env: Env) =>
  loadConfig({
    SECRET_KEY: TEST_SECRET,
    BCRYPT_ROUNDS: '4',
    RATE_LIMIT_MAX: '0',
    LOGIN_MAX_FAILURES: '0',
    LOGIN_ACCOUNT_MAX_FAILURES: '0',
    RUN_SCHEDULER: 'false',
    LOG_LEVEL: 'silent',
    ...env,
  })

/**
 * The whole app on a fresh, migrated database (PGlite, or its own database on the server
 * when TEST_DATABASE_URL is set), with a real SMTP server receiving its mail.
 * `env` overrides the environment as strings, exactly as an operator would set them;
 * `database` replaces the fresh one (closed, or dropped, by `close`); `logDestination`
 * receives the log lines (set LOG_LEVEL in `env` to see any).
 */
export async function createTestApp(
  env: Env = {},
  options: { database?: TestDatabase; logDestination?: DestinationStream } = {},
) {
  const inbox = await startSmtpServer()
  const testDb = options.database ?? (await createTestDatabase())
  const config = testConfig({ SMTP_URL: inbox.url, ...env })
  const clock = createTestClock()
  const logger = createLogger(config, options.logDestination)
  const mailer = createMailer({
    smtpUrl: config.smtpUrl,
    transport: config.mailTransport,
    mailFrom: config.mailFrom,
    logger,
  })
  // Built here, as the server does, so tests reach the same services the app uses.
  const metrics = createMetrics({ processMetrics: true })
  const database = testDb.database
  const services = createServices({ config, database, mailer, clock, logger, metrics })
  const app = await buildApp({ config, database, mailer, clock, logger, metrics, services })
  await app.ready()
  return {
    app,
    config,
    clock,
    services,
    inbox,
    database: testDb.database,
    db: testDb.database.db,
    databaseUrl: testDb.url,
    async close() {
      await app.close()
      await mailer.close()
      await testDb.drop()
      await inbox.close()
    },
  }
}

/**
 * One more instance of the app on an existing database, as another process would be (its
 * own services, key store and listening connection), without a database of its own.
 * `logLines` collects its JSON log lines (at LOG_LEVEL, `info` when collecting).
 */
export async function createInstance(
  database: Database,
  env: Env = {},
  options: { clock?: Clock; logLines?: string[] } = {},
) {
  const { logLines } = options
  const config = testConfig({ ...(logLines ? { LOG_LEVEL: 'info' } : {}), ...env })
  const clock = options.clock ?? createTestClock()
  const logger = createLogger(config, logLines && { write: (line: string) => logLines.push(line) })
  const mailer = createMailer({
    smtpUrl: null,
    transport: 'log',
    mailFrom: config.mailFrom,
    logger,
  })
  const metrics = createMetrics({ processMetrics: true })
  const services = createServices({ config, database, mailer, clock, logger, metrics })
  const app = await buildApp({ config, database, mailer, clock, logger, metrics, services })
  await app.ready()
  return { app, config, clock, services, close: () => app.close() }
}

export type TestInstance = Awaited<ReturnType<typeof createInstance>>

export type TestApp = Awaited<ReturnType<typeof createTestApp>>
