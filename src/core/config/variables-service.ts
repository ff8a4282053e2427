import {
  boolean,
  duration,
  integer,
  oneOf,
  origins,
  path,
  secretKey,
  text,
  trustProxy,
  url,
} from './parsers.js'
import { variable } from './variable.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const RUNTIME = {
  nodeEnv: variable({
    env: 'NODE_ENV',
    parse: text,
    default: 'development',
    example: 'development',
    doc: 'development | production | test. production requires SECRET_KEY, SMTP_URL (or MAIL_TRANSPORT=log) and BCRYPT_ROUNDS of at least 10, refuses TRUST_PROXY=true, and logs plain JSON. (docker-compose.yml sets production.)',
    summary: '`production`: the production rules of this table, JSON logs',
  }),
  port: variable({
    env: 'PORT',
    parse: integer(0, 65535),
    default: '8000',
    doc: 'Where the API listens.',
    summary: 'where the API listens',
  }),
  host: variable({ env: 'HOST', parse: text, default: '0.0.0.0' }),
  logLevel: variable({
    env: 'LOG_LEVEL',
    parse: oneOf(LOG_LEVELS),
    default: 'info',
    doc: `Log level: ${LOG_LEVELS.slice(0, -1).join(', ')} or ${LOG_LEVELS.at(-1)}.`,
    summary: 'log level',
  }),
  shutdownTimeoutMs: variable({
    env: 'SHUTDOWN_TIMEOUT',
    parse: duration(1_000),
    default: '10s',
    doc: "How long the API or the worker may take to close after SIGTERM/SIGINT (requests in flight, the current cleanup batch) before it gives up and exits 1. Keep it below the orchestrator's grace period before SIGKILL (docker-compose.yml gives 15s).",
    summary: 'graceful shutdown limit; then the process exits `1`',
  }),
}

export const DATABASE = {
  databaseUrl: variable({
    env: 'DATABASE_URL',
    parse: url(['postgres:', 'postgresql:']),
    example: 'postgres://coffee:coffee@127.0.0.1:5432/coffee',
    unset: 'PGlite in `DATA_DIR`',
    doc: 'postgres://user:password@host:5432/dbname for a PostgreSQL server. Unset: embedded PostgreSQL (PGlite) in DATA_DIR/pglite, for one process only.',
    summary: '`postgres://…` for a PostgreSQL server',
  }),
  dataDir: variable({
    env: 'DATA_DIR',
    parse: path,
    default: './data',
    doc: 'Folder for the embedded database and the generated development SECRET_KEY; made (or tightened) 0700 at start, its files private. A secret_key file open to group or others, owned by another user or not holding a key of 64 hex digits stops the start.',
    summary: 'embedded database and generated key; private (`0700`)',
  }),
  /** Users (with their sessions) each instance remembers for authentication; 0 turns it off. */
  authCacheSize: variable({
    env: 'AUTH_CACHE_SIZE',
    parse: integer(0, 1_000_000),
    default: '2000',
    doc: 'Users whose row and live sessions each instance keeps for authenticating requests (about 1 kB each); 0 reads both from the database on every request. Database triggers announce every change (LISTEN/NOTIFY), and an entry is used only after a round trip on the listening connection that started after the request arrived, so a change committed before a request is always seen.',
    summary: 'users kept per instance for authentication (`0` disables)',
  }),
}

export const BACKGROUND_WORK = {
  unverifiedUserTtlMs: variable({
    env: 'UNVERIFIED_USER_TTL',
    parse: duration(1_000),
    default: '2d',
    doc: 'Never-verified accounts older than this are deleted.',
    summary: 'age at which never-verified accounts are deleted',
  }),
  cleanupIntervalMs: variable({
    env: 'CLEANUP_INTERVAL',
    parse: duration(1_000),
    default: '15m',
    doc: 'How often the cleanup runs (worker, and the API unless RUN_SCHEDULER=false).',
    summary: 'cleanup period; whether the API runs the scheduler too',
  }),
  runScheduler: variable({ env: 'RUN_SCHEDULER', parse: boolean, default: 'true' }),
  auditRetentionMs: variable({
    env: 'AUDIT_RETENTION',
    parse: duration(60_000),
    default: '365d',
    doc: 'How long audit events are kept; the cleanup deletes older ones.',
    summary: 'how long audit events are kept',
  }),
}

export const HTTP = {
  trustProxy: variable({
    env: 'TRUST_PROXY',
    parse: trustProxy,
    default: 'false',
    production: '`true` refused in production',
    doc: "Whether X-Forwarded-For is believed (client address for limits and logs). Behind a proxy, list its addresses/CIDRs (10.0.0.0/8, fd00::/8, loopback), or give the number of proxies in front (1) when nothing but them can reach the API. true believes any client's X-Forwarded-For (every client picks its own rate-limit address): refused in production.",
    summary: 'proxy CIDRs or hop count',
  }),
  corsOrigins: variable({
    env: 'CORS_ORIGINS',
    parse: origins,
    whenUnset: [] as string[],
    example: 'https://shop.example.com',
    unset: 'none',
    doc: 'Browser origins allowed by CORS, comma-separated, e.g. https://shop.example.com (never *). Unset: no cross-origin access.',
    summary: 'browser origins allowed by CORS (never `*`)',
  }),
}

export const METRICS = {
  metricsToken: variable({
    env: 'METRICS_TOKEN',
    parse: secretKey,
    secret: true,
    unset: 'no token asked',
    doc: 'When set, GET /metrics answers only `Authorization: Bearer <token>` (401 otherwise); at least 32 bytes, e.g. openssl rand -hex 32. Give Prometheus the same value (authorization.credentials in its scrape config).',
    summary: 'bearer token that `GET /metrics` requires',
  }),
  metricsPort: variable({
    env: 'METRICS_PORT',
    parse: integer(1, 65535),
    example: '9100',
    unset: '`/metrics` on `PORT`',
    doc: 'When set, /metrics is served on its own listener at METRICS_HOST:METRICS_PORT and no longer on PORT, so the public port never shows it. The worker serves /metrics only when it is set.',
    summary: 'separate `/metrics` listener (API and worker)',
  }),
  metricsHost: variable({ env: 'METRICS_HOST', parse: text, default: '127.0.0.1' }),
}

export const ERROR_REPORTING = {
  sentryDsn: variable({
    env: 'SENTRY_DSN',
    parse: url(['http:', 'https:']),
    example: 'https://key@o0.ingest.sentry.io/0',
    unset: 'SDK not loaded',
    doc: 'Sentry DSN; unset: the SDK is not even loaded.',
    summary: 'where errors are reported',
  }),
}
