import type { AuditEventType } from '../core/audit-events.js'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { type DerivedKeys, keysFor } from '../core/keys.js'
import type { Database } from '../db/client.js'
import type { Mailer } from '../mailer.js'
import type { Metrics } from '../metrics.js'
import { createRepositories, type Repositories } from '../repositories/index.js'
import { createAuditLog, createEventRecorder } from './audit.js'
import { type AuthLogger, createAuthService } from './auth.js'
import { createAuthCache } from './auth-cache.js'
import { createCodesService } from './codes.js'
import { createEmailChangeService } from './email-change.js'
import { createKeyStore, type KeyStoreLogger } from './key-store.js'
import { createMfaService } from './mfa.js'
import { createSessionsService } from './sessions.js'
import { createSigningKeysService } from './signing-keys.js'
import { createTokensService } from './tokens.js'
import { createUserSessionsService } from './user-sessions.js'
import { createUsersService } from './users.js'

export interface ServiceDeps {
  config: Readonly<Config>
  database: Database
  mailer: Mailer
  clock: Clock
  /** Domain counters for /metrics; the worker and CLI may omit them. */
  metrics?: Metrics
  /** Security events (refresh-token reuse, key changes); silent when omitted. */
  logger?: AuthLogger & KeyStoreLogger
  /** The data layer; made over `database` when omitted (a test wraps one to inject a failure). */
  repositories?: Repositories
}

const silentLogger: AuthLogger & KeyStoreLogger = { info() {}, warn() {}, error() {} }

/**
 * The signing keys: the database side (create, rotate, revoke) and this process's loaded
 * copy. Also used alone by the CLI and the benchmark, which need no mailer.
 */
export function createKeyServices(deps: {
  config: Readonly<Config>
  database: Database
  clock: Clock
  logger?: KeyStoreLogger
  /** Derived from SECRET_KEY; derived here when omitted. */
  keys?: Readonly<DerivedKeys>
  /** Made over `database` when omitted. */
  repositories?: Repositories
  /** The per-type audit metric, where there is one. */
  onAuditEvent?: (type: AuditEventType) => void
}) {
  const { config, database, clock } = deps
  const logger = deps.logger ?? silentLogger
  const keys = deps.keys ?? keysFor(config.secretKey)
  const signingKeys = createSigningKeysService({
    repositories: deps.repositories ?? createRepositories(database.db),
    config,
    clock,
    encryptionKey: keys.signingKeySealing,
    logger,
    recordEvent: createEventRecorder(clock, deps.onAuditEvent),
  })
  // Loaded by start() (buildApp); the worker and CLI never verify, so never start it.
  const keyStore = createKeyStore({
    database,
    config,
    clock,
    logger,
    signingKeys,
    encryptionKey: keys.signingKeySealing,
    hs256Key: keys.accessToken,
  })
  return { signingKeys, keyStore }
}

/**
 * The one place where repositories and services are wired; the app, worker and CLI share it.
 * Long on purpose: a flat list of constructions in dependency order, no logic.
 */
export function createServices(deps: ServiceDeps) {
  const { config, database, mailer, clock, metrics } = deps
  const log = deps.logger ?? silentLogger
  // One bundle: its prepared statements are made once, and every transaction is opened from it.
  const repositories = deps.repositories ?? createRepositories(database.db)
  const onAuditEvent = metrics && ((type: AuditEventType) => metrics.auditEvents.inc({ type }))
  // Derived once here, at start: HKDF is not for every request.
  const keys = keysFor(config.secretKey)
  const { signingKeys, keyStore } = createKeyServices({
    config,
    database,
    clock,
    logger: log,
    keys,
    repositories,
    onAuditEvent,
  })
  const audit = createAuditLog({ repositories, clock, onCommitted: onAuditEvent })
  const recordEvent = audit.record
  // Listening from start() (buildApp) on; the worker and CLI never authenticate.
  const authCache = createAuthCache({
    database,
    maxUsers: config.authCacheSize,
    logger: log,
    onLookup: metrics && ((outcome) => metrics.authCacheLookups[outcome]++),
  })
  const tokens = createTokensService({
    config,
    clock,
    users: repositories.users,
    keys: keyStore,
    authCache,
  })
  const codes = createCodesService({
    config,
    keys,
    repositories,
    clock,
    onRejected: (purpose) => metrics?.codeFailures.inc({ purpose }),
  })
  const sessions = createSessionsService({
    config,
    repositories,
    clock,
    tokens,
    logger: log,
    recordEvent,
    onReuseDetected: () => metrics?.reuseDetections.inc(),
  })
  const mfa = createMfaService({
    keys,
    repositories,
    mailer,
    clock,
    sessions,
    logger: log,
    recordEvent,
  })
  const auth = createAuthService({
    config,
    keys,
    repositories,
    mailer,
    clock,
    sessions,
    codes,
    mfa,
    logger: log,
    recordEvent,
  })
  const usersService = createUsersService({ config, repositories, clock, recordEvent })
  const userSessions = createUserSessionsService({ config, repositories, clock, recordEvent })
  const emailChange = createEmailChangeService({
    config,
    repositories,
    mailer,
    clock,
    codes,
    recordEvent,
  })
  return {
    tokens,
    auth,
    mfa,
    users: usersService,
    sessions: userSessions,
    emailChange,
    signingKeys,
    keyStore,
    authCache,
    audit,
  }
}

export type Services = ReturnType<typeof createServices>
