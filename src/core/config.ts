import { existsSync } from 'node:fs'
import { isIP, isIPv4 } from 'node:net'
import { join, resolve } from 'node:path'
import { checkEmail, checkPassword, normaliseEmail } from './credentials.js'
import { createSecretKeyFile, ensurePrivateDirectory, readSecretKeyFile } from './private-files.js'
import { JWT_ALGORITHMS, type JwtAlgorithm } from './signing-keys.js'

/** Raised when the environment holds a bad value; each line names one variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
/** Where e-mails (and their codes) go: an SMTP server, or the log. */
export type MailTransport = 'smtp' | 'log'
/** Fastify's `trustProxy`: off, on, a hop count, or a list of addresses/CIDRs. */
export type TrustProxy = boolean | number | string[]

export interface Config {
  nodeEnv: string
  isProduction: boolean
  port: number
  host: string
  databaseUrl: string | null
  dataDir: string
  /** Null until resolveSecretKey() fills it from the data folder (development only). */
  secretKey: string | null
  jwtIssuer: string
  jwtAudience: string
  /** How access tokens are signed: an asymmetric key pair from the database, or HS256. */
  jwtAlgorithm: JwtAlgorithm
  /** The base of absolute URLs in metadata (no trailing slash). */
  publicUrl: string
  /** How often each instance reloads the signing keys (changes are also pushed). */
  keyRefreshIntervalMs: number
  /** Age at which the scheduler rotates the signing key; null = never on its own. */
  signingKeyRotationMs: number | null
  accessTokenTtlMs: number
  refreshTokenTtlMs: number
  refreshReuseGraceMs: number
  codeTtlMs: number
  unverifiedUserTtlMs: number
  cleanupIntervalMs: number
  runScheduler: boolean
  bcryptRounds: number
  smtpUrl: string | null
  /** `smtp` when SMTP_URL is set, unless MAIL_TRANSPORT says otherwise. */
  mailTransport: MailTransport
  mailFrom: string
  redisUrl: string | null
  rateLimitMax: number
  rateLimitWindowMs: number
  /** The stricter per-client limit on signup, login, resend and forgot (per window). */
  authRateLimitMax: number
  /** Prepended to every Redis key, so environments can share one Redis. */
  redisKeyPrefix: string
  loginMaxFailures: number
  /** Failed logins per account from all clients together per window; 0 turns it off. */
  loginAccountMaxFailures: number
  loginAccountWindowMs: number
  firstAdminEmail: string | null
  firstAdminPassword: string | null
  corsOrigins: string[]
  logLevel: LogLevel
  sentryDsn: string | null
  trustProxy: TrustProxy
  bodyLimitBytes: number
}

export type Env = Record<string, string | undefined>

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
]
const MIN_SECRET_BYTES = 32
/** Below this a leaked hash falls to a GPU too fast; smaller costs are for tests only. */
const MIN_PRODUCTION_BCRYPT_ROUNDS = 10
const PLACEHOLDER_PREFIXES = ['changethis', 'change-me', 'changeme', 'replace-me', 'your-secret']

/** Parses `500ms`, `30s`, `15m`, `12h`, `2d` into milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim())
  if (!match) return null
  const [, amount, unit] = match as unknown as [string, string, keyof typeof DURATION_UNITS_MS]
  return Number(amount) * DURATION_UNITS_MS[unit]
}

/** Collects every problem instead of stopping at the first, so one start shows them all. */
function createReader(env: Env) {
  const problems: string[] = []
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const fail = <T>(name: string, message: string, fallback: T): T => {
    problems.push(`${name}: ${message} (got "${env[name]}")`)
    return fallback
  }
  return {
    problems,
    string: (name: string, fallback: string) => raw(name) ?? fallback,
    optional: (name: string) => raw(name) ?? null,
    integer(name: string, fallback: number, min: number, max: number): number {
      const value = raw(name)
      if (value === undefined) return fallback
      const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN
      if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
        return fail(name, `must be an integer from ${min} to ${max}`, fallback)
      }
      return parsed
    },
    duration(name: string, fallback: string, minMs = 1): number {
      const value = raw(name) ?? fallback
      const parsed = parseDuration(value)
      if (parsed === null) return fail(name, 'must be a duration like 30s, 15m, 12h or 2d', 0)
      if (parsed < minMs) return fail(name, `must be at least ${minMs}ms`, 0)
      return parsed
    },
    boolean(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase()
      if (value === undefined) return fallback
      if (['true', '1', 'yes', 'on'].includes(value)) return true
      if (['false', '0', 'no', 'off'].includes(value)) return false
      return fail(name, 'must be true or false', fallback)
    },
    url(name: string, protocols: string[]): string | null {
      const value = raw(name)
      if (value === undefined) return null
      try {
        const url = new URL(value)
        if (protocols.includes(url.protocol)) return value
      } catch {}
      return fail(name, `must be a URL starting with ${protocols.join(' or ')}//`, null)
    },
    fail,
  }
}

/** proxy-addr's named ranges, which Fastify's `trustProxy` accepts besides addresses. */
const NAMED_PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']

/** An address, `address/prefix` or `IPv4/netmask`: what Fastify's `trustProxy` compiles. */
function isProxyAddress(entry: string): boolean {
  if (NAMED_PROXY_RANGES.includes(entry)) return true
  const [address = '', range, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (range === undefined) return true
  if (family === 4 && isIPv4(range)) return true
  return /^\d{1,3}$/.test(range) && Number(range) <= (family === 4 ? 32 : 128)
}

function parseTrustProxy(value: string | null): TrustProxy | 'invalid' {
  if (value === null) return false
  const lower = value.toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  if (/^\d+$/.test(value)) return Number(value)
  const entries = value.split(',').map((entry) => entry.trim())
  return entries.every(isProxyAddress) ? entries : 'invalid'
}

/** Fails TRUST_PROXY when it is malformed, or `true` in production. */
function checkTrustProxy(read: ReturnType<typeof createReader>, isProduction: boolean): TrustProxy {
  const trustProxy = parseTrustProxy(read.optional('TRUST_PROXY'))
  if (trustProxy === 'invalid') {
    return read.fail(
      'TRUST_PROXY',
      'must be false, a hop count, or a comma list of proxy addresses/CIDRs (10.0.0.0/8, fd00::/8, loopback)',
      false,
    )
  }
  if (trustProxy === true && isProduction) {
    // `true` believes whatever X-Forwarded-For a client sends: every client could pick
    // its own address, and so its own rate-limit and login-throttle keys.
    return read.fail(
      'TRUST_PROXY',
      'true is refused when NODE_ENV=production: it believes any X-Forwarded-For, so clients pick their own rate-limit address; set the hop count of your proxies (e.g. 1) or, better, their addresses/CIDRs (e.g. 10.0.0.0/8)',
      false,
    )
  }
  return trustProxy
}

/** The account-wide limit must stay above the per-client one, or one client locks accounts. */
function checkLoginAccountLimit(read: ReturnType<typeof createReader>, perClient: number) {
  const perAccount = read.integer('LOGIN_ACCOUNT_MAX_FAILURES', 50, 0, 1_000_000)
  if (perAccount > 0 && perClient > 0 && perAccount <= perClient) {
    return read.fail(
      'LOGIN_ACCOUNT_MAX_FAILURES',
      `must be 0 or more than LOGIN_MAX_FAILURES (${perClient}), or a single client locks the account before its own limit stops it`,
      0,
    )
  }
  return perAccount
}

function parseOrigins(value: string | null): string[] | null {
  if (value === null) return []
  const origins = value.split(',').map((origin) => origin.trim())
  const valid = origins.every((origin) => {
    if (origin === '*') return false // never a wildcard: tokens are bearer credentials
    try {
      return new URL(origin).origin === origin
    } catch {
      return false
    }
  })
  return valid ? origins : null
}

type Reader = ReturnType<typeof createReader>

/**
 * Without SMTP, e-mails go to the log, codes included: fine on a laptop, an account
 * takeover waiting in production unless the operator says that is what they want.
 */
function readMailTransport(read: Reader, smtpUrl: string | null, isProduction: boolean) {
  const value = read.optional('MAIL_TRANSPORT')?.toLowerCase()
  if (value === undefined) {
    if (smtpUrl !== null) return 'smtp'
    if (isProduction && !read.problems.some((p) => p.startsWith('SMTP_URL'))) {
      read.problems.push(
        'SMTP_URL: is required when NODE_ENV=production (otherwise e-mailed codes are written to the log); set MAIL_TRANSPORT=log if that is what you want',
      )
    }
    return 'log'
  }
  if (value !== 'smtp' && value !== 'log')
    return read.fail('MAIL_TRANSPORT', 'must be smtp or log', 'log')
  if (value === 'smtp' && smtpUrl === null) {
    read.problems.push('MAIL_TRANSPORT: smtp needs SMTP_URL (smtp://… or smtps://…)')
  }
  return value
}

function readBcryptRounds(read: Reader, isProduction: boolean): number {
  const rounds = read.integer('BCRYPT_ROUNDS', 12, 4, 31)
  if (isProduction && rounds < MIN_PRODUCTION_BCRYPT_ROUNDS) {
    read.fail(
      'BCRYPT_ROUNDS',
      `must be at least ${MIN_PRODUCTION_BCRYPT_ROUNDS} when NODE_ENV=production`,
      12,
    )
  }
  return rounds
}

/**
 * FIRST_ADMIN_*: both or neither, and by the rules the API applies to every account, so a
 * value that passes here is never refused by the service later, mid-start.
 */
function checkFirstAdmin(read: Reader, env: Env) {
  const email = read.optional('FIRST_ADMIN_EMAIL')
  // Passwords are compared exactly as given: no trimming here.
  const password = env.FIRST_ADMIN_PASSWORD || null
  const emailProblem = email === null ? null : checkEmail(email)
  if (emailProblem) read.fail('FIRST_ADMIN_EMAIL', emailProblem.msg, null)
  if ((email === null) !== (password === null)) {
    read.problems.push('FIRST_ADMIN_EMAIL, FIRST_ADMIN_PASSWORD: set both or neither')
  } else if (password !== null) {
    const passwordProblem = checkPassword(password)
    // Pushed rather than read.fail(): the line must not echo the password.
    if (passwordProblem) read.problems.push(`FIRST_ADMIN_PASSWORD: ${passwordProblem.msg}`)
  }
  return { email: email === null ? null : normaliseEmail(email), password }
}

/** JWT_ALGORITHM, spelled as in JWS headers (`es256` and `eddsa` are accepted too). */
function readJwtAlgorithm(read: ReturnType<typeof createReader>): JwtAlgorithm {
  const value = read.string('JWT_ALGORITHM', 'ES256')
  const algorithm = JWT_ALGORITHMS.find((name) => name.toLowerCase() === value.toLowerCase())
  return (
    algorithm ?? read.fail('JWT_ALGORITHM', `must be one of ${JWT_ALGORITHMS.join(', ')}`, 'ES256')
  )
}

/** PUBLIC_URL without its trailing slash; by default this host's port on localhost. */
function readPublicUrl(read: ReturnType<typeof createReader>, port: number): string {
  const url = read.url('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`
  return url.replace(/\/+$/, '')
}

/** Rotating more often than this would sign with keys verifiers may not have fetched yet. */
const MIN_KEY_ROTATION_MS = 3_600_000

/** SIGNING_KEY_ROTATION: a duration, or `off` (the default). */
function readKeyRotation(read: ReturnType<typeof createReader>): number | null {
  const value = read.optional('SIGNING_KEY_ROTATION')
  if (value === null || value.toLowerCase() === 'off') return null
  const parsed = parseDuration(value)
  if (parsed === null || parsed < MIN_KEY_ROTATION_MS) {
    return read.fail(
      'SIGNING_KEY_ROTATION',
      'must be off or a duration of at least 1h, like 90d',
      null,
    )
  }
  return parsed
}

/**
 * Parses and validates the environment once. Pure: the caller passes the variables
 * (tests hand in a plain object) and gets a frozen object back or a ConfigError.
 */
export function loadConfig(env: Env): Readonly<Config> {
  const read = createReader(env)
  const nodeEnv = read.string('NODE_ENV', 'development')
  const isProduction = nodeEnv === 'production'

  const secretKey = read.optional('SECRET_KEY')
  if (secretKey !== null) {
    if (Buffer.byteLength(secretKey) < MIN_SECRET_BYTES) {
      read.fail('SECRET_KEY', `must be at least ${MIN_SECRET_BYTES} bytes`, null)
    } else if (PLACEHOLDER_PREFIXES.some((p) => secretKey.toLowerCase().startsWith(p))) {
      read.fail(
        'SECRET_KEY',
        'looks like a placeholder; generate one with `openssl rand -hex 32`',
        null,
      )
    }
  } else if (isProduction) {
    read.problems.push('SECRET_KEY: is required when NODE_ENV=production (at least 32 bytes)')
  }

  const logLevel = read.string('LOG_LEVEL', 'info').toLowerCase() as LogLevel
  if (!LOG_LEVELS.includes(logLevel))
    read.fail('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`, 'info')

  const trustProxy = checkTrustProxy(read, isProduction)
  const corsOrigins = parseOrigins(read.optional('CORS_ORIGINS'))
  if (corsOrigins === null) {
    read.fail(
      'CORS_ORIGINS',
      'must be a comma list of origins like https://shop.example.com (no *)',
      [],
    )
  }

  const firstAdmin = checkFirstAdmin(read, env)
  const loginMaxFailures = read.integer('LOGIN_MAX_FAILURES', 10, 0, 1_000_000)
  const smtpUrl = read.url('SMTP_URL', ['smtp:', 'smtps:'])
  const port = read.integer('PORT', 8000, 0, 65535)
  const config: Config = {
    nodeEnv,
    isProduction,
    port,
    host: read.string('HOST', '0.0.0.0'),
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: resolve(read.string('DATA_DIR', './data')),
    secretKey: read.problems.some((p) => p.startsWith('SECRET_KEY')) ? null : secretKey,
    jwtIssuer: read.string('JWT_ISSUER', 'coffee-shop-api'),
    jwtAudience: read.string('JWT_AUDIENCE', 'coffee-shop'),
    jwtAlgorithm: readJwtAlgorithm(read),
    publicUrl: readPublicUrl(read, port),
    keyRefreshIntervalMs: read.duration('KEY_REFRESH_INTERVAL', '30s', 1_000),
    signingKeyRotationMs: readKeyRotation(read),
    accessTokenTtlMs: read.duration('ACCESS_TOKEN_TTL', '15m', 1_000),
    refreshTokenTtlMs: read.duration('REFRESH_TOKEN_TTL', '30d', 1_000),
    refreshReuseGraceMs: read.duration('REFRESH_REUSE_GRACE', '10s', 0),
    codeTtlMs: read.duration('CODE_TTL', '15m', 1_000),
    unverifiedUserTtlMs: read.duration('UNVERIFIED_USER_TTL', '2d', 1_000),
    cleanupIntervalMs: read.duration('CLEANUP_INTERVAL', '15m', 1_000),
    runScheduler: read.boolean('RUN_SCHEDULER', true),
    bcryptRounds: readBcryptRounds(read, isProduction),
    smtpUrl,
    mailTransport: readMailTransport(read, smtpUrl, isProduction),
    mailFrom: read.string('MAIL_FROM', 'Coffee Shop <no-reply@coffee-shop.local>'),
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    rateLimitMax: read.integer('RATE_LIMIT_MAX', 100, 0, 1_000_000_000),
    rateLimitWindowMs: read.duration('RATE_LIMIT_WINDOW', '1m', 1_000),
    authRateLimitMax: read.integer('AUTH_RATE_LIMIT_MAX', 10, 0, 1_000_000_000),
    redisKeyPrefix: read.string('REDIS_KEY_PREFIX', 'coffee-shop:'),
    loginMaxFailures,
    loginAccountMaxFailures: checkLoginAccountLimit(read, loginMaxFailures),
    loginAccountWindowMs: read.duration('LOGIN_ACCOUNT_WINDOW', '1h', 1_000),
    firstAdminEmail: firstAdmin.email,
    firstAdminPassword: firstAdmin.password,
    corsOrigins: corsOrigins ?? [],
    logLevel,
    sentryDsn: read.url('SENTRY_DSN', ['http:', 'https:']),
    trustProxy,
    bodyLimitBytes: read.integer('BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems)
  return Object.freeze(config)
}

/**
 * Outside production a missing SECRET_KEY is generated once and kept in the data folder
 * (private to the user running the API), so a newcomer needs no set-up and tokens survive
 * a restart. A key file others could read, or not holding a key, stops the start.
 */
export function resolveSecretKey(config: Readonly<Config>): Readonly<Config> {
  if (config.secretKey !== null) return config
  const file = join(config.dataDir, 'secret_key')
  ensurePrivateDirectory(config.dataDir)
  if (!existsSync(file)) createSecretKeyFile(file)
  const read = readSecretKeyFile(file)
  if ('problem' in read) throw new ConfigError([read.problem])
  return Object.freeze({ ...config, secretKey: read.key })
}

/** The process environment, after reading `.env` when present (it never overrides). */
export function readEnvironment(): Env {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return process.env
}

/** What the server, worker and CLI call: environment, validation, then the secret. */
export function loadRuntimeConfig(): Readonly<Config> {
  return resolveSecretKey(loadConfig(readEnvironment()))
}

/** Prints a ConfigError as one line per variable and exits; rethrows anything else. */
export function exitOnConfigError(error: unknown): never {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`config error: ${problem}`)
    process.exit(1)
  }
  throw error
}
