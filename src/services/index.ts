import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { keysFor } from '../core/keys.js'
import type { Database } from '../db/client.js'
import type { Mailer } from '../mailer.js'
import type { Metrics } from '../metrics.js'
import { createUsersRepository } from '../repositories/users.js'
import { type AuthLogger, createAuthService } from './auth.js'
import { createCodesService } from './codes.js'
import { createTokensService } from './tokens.js'
import { createUsersService } from './users.js'

export interface ServiceDeps {
  config: Readonly<Config>
  database: Database
  mailer: Mailer
  clock: Clock
  /** Domain counters for /metrics; the worker and CLI may omit them. */
  metrics?: Metrics
  /** Security events (refresh-token reuse); silent when omitted. */
  logger?: AuthLogger
}

const silentLogger: AuthLogger = { warn() {} }

/** The one place where repositories and services are wired; the app, worker and CLI share it. */
export function createServices({ config, database, mailer, clock, logger, metrics }: ServiceDeps) {
  const users = createUsersRepository(database.db)
  // Derived once here, at start: HKDF is not for every request.
  const keys = keysFor(config.secretKey)
  const tokens = createTokensService({ config, clock, users, keys })
  const codes = createCodesService({
    config,
    keys,
    db: database.db,
    clock,
    onRejected: (purpose) => metrics?.codeFailures.inc({ purpose }),
  })
  const auth = createAuthService({
    config,
    keys,
    db: database.db,
    mailer,
    clock,
    tokens,
    codes,
    users,
    logger: logger ?? silentLogger,
    onReuseDetected: () => metrics?.reuseDetections.inc(),
  })
  const usersService = createUsersService({ config, db: database.db, clock, users })
  return { tokens, auth, users: usersService }
}

export type Services = ReturnType<typeof createServices>
