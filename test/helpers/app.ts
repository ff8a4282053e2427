import type { DestinationStream } from 'pino'
import { type Context, composeApi } from '../../src/composition.js'
import type { Clock } from '../../src/core/clock.js'
import { type Env, loadConfig } from '../../src/core/config.js'
import { createLogger } from '../../src/core/logger.js'
import type { Database } from '../../src/db/client.js'
import { createTestDatabase, type TestDatabase } from './database.js'
import { startSmtpServer } from './smtp.js'

export const TEST_SECRET = 'test-secret-key-0123456789abcdef0123456789abcdef'

export type TestClock = Clock & { set(date: Date): void; advance(ms: number): void }

/** A clock the test moves by hand: `clock.advance(16 * 60_000)` instead of sleeping. */
export function createTestClock(start = new Date()): TestClock {
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
 * The context the composition root opens in production, built from test parts: the
 * tests' config, `database`, a clock the test moves and, when given, a log destination.
 */
function testContext(
  database: Database,
  env: Env,
  options: { clock?: TestClock; logDestination?: DestinationStream },
) {
  const config = testConfig(env)
  const clock = options.clock ?? createTestClock()
  const logger = createLogger(config, options.logDestination)
  return { config, logger, database, clock } satisfies Context
}

/**
 * The whole app on a fresh, migrated database (PGlite, or its own database on the server
 * when TEST_DATABASE_URL is set), with a real SMTP server receiving its mail, built by the
 * server's own composition (composeApi).
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
  const context = testContext(testDb.database, { SMTP_URL: inbox.url, ...env }, options)
  const api = await composeApi(context)
  await api.app.ready()
  return {
    app: api.app,
    config: context.config,
    clock: context.clock,
    services: api.services,
    inbox,
    database: testDb.database,
    db: testDb.database.db,
    databaseUrl: testDb.url,
    async close() {
      await api.close()
      await testDb.drop()
      await inbox.close()
    },
  }
}

/**
 * One more instance of the app on an existing database, as another process would be (its
 * own services, key store and listening connection), without a database of its own.
 * E-mail goes to the log. `logLines` collects its JSON log lines (at LOG_LEVEL, `info`
 * when collecting).
 */
export async function createInstance(
  database: Database,
  env: Env = {},
  options: { clock?: TestClock; logLines?: string[] } = {},
) {
  const { logLines } = options
  const context = testContext(
    database,
    { ...(logLines ? { LOG_LEVEL: 'info' } : {}), MAIL_TRANSPORT: 'log', ...env },
    { clock: options.clock, logDestination: logLines && { write: (line) => logLines.push(line) } },
  )
  const api = await composeApi(context)
  await api.app.ready()
  return {
    app: api.app,
    config: context.config,
    clock: context.clock,
    services: api.services,
    close: () => api.close(),
  }
}

export type TestInstance = Awaited<ReturnType<typeof createInstance>>

export type TestApp = Awaited<ReturnType<typeof createTestApp>>
