import type { DestinationStream } from 'pino'
import { buildApp } from '../../src/app.js'
import type { Clock } from '../../src/core/clock.js'
import { type Env, loadConfig } from '../../src/core/config.js'
import { createLogger } from '../../src/core/logger.js'
import { createMailer } from '../../src/mailer.js'
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
  const config = loadConfig({
    SECRET_KEY: TEST_SECRET,
    BCRYPT_ROUNDS: '4',
    RATE_LIMIT_MAX: '0',
    LOGIN_MAX_FAILURES: '0',
    LOGIN_ACCOUNT_MAX_FAILURES: '0',
    RUN_SCHEDULER: 'false',
    LOG_LEVEL: 'silent',
    SMTP_URL: inbox.url,
    ...env,
  })
  const clock = createTestClock()
  const logger = createLogger(config, options.logDestination)
  const mailer = createMailer({
    smtpUrl: config.smtpUrl,
    transport: config.mailTransport,
    mailFrom: config.mailFrom,
    logger,
  })
  const app = await buildApp({ config, database: testDb.database, mailer, clock, logger })
  await app.ready()
  return {
    app,
    config,
    clock,
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

export type TestApp = Awaited<ReturnType<typeof createTestApp>>
