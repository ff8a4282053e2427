import { describe, expect, it } from 'vitest'
import { loadConfig, parseDuration } from '../../src/core/config.js'
import { problemsOf } from '../helpers/config.js'

describe('durations (parseDuration)', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['2d', 172_800_000],
    [' 10s ', 10_000],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms))

  it.each(['', '15', 'm', '1.5m', '-1s', '15 m', '15min', '1w'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeNull()
  })
})

describe('loading the configuration', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      port: 8000,
      host: '0.0.0.0',
      databaseUrl: null,
      secretKey: null,
      accessTokenTtlMs: 15 * 60_000,
      refreshTokenTtlMs: 30 * 86_400_000,
      refreshReuseGraceMs: 10_000,
      unverifiedUserTtlMs: 2 * 86_400_000,
      cleanupIntervalMs: 15 * 60_000,
      runScheduler: true,
      bcryptRounds: 12,
      smtpUrl: null,
      redisUrl: null,
      rateLimitMax: 100,
      rateLimitWindowMs: 60_000,
      loginMaxFailures: 10,
      loginAccountMaxFailures: 50,
      loginAccountWindowMs: 3_600_000,
      corsOrigins: [],
      logLevel: 'info',
      sentryDsn: null,
      trustProxy: false,
      jwtAlgorithm: 'ES256',
      publicUrl: 'http://localhost:8000',
      keyRefreshIntervalMs: 30_000,
      signingKeyRotationMs: null,
      auditRetentionMs: 365 * 86_400_000,
    })
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('reads the signing settings', () => {
    expect(
      loadConfig({
        PORT: '9000',
        JWT_ALGORITHM: 'eddsa',
        KEY_REFRESH_INTERVAL: '5s',
        SIGNING_KEY_ROTATION: '90d',
      }),
    ).toMatchObject({
      jwtAlgorithm: 'EdDSA',
      publicUrl: 'http://localhost:9000',
      keyRefreshIntervalMs: 5_000,
      signingKeyRotationMs: 90 * 86_400_000,
    })
    expect(loadConfig({ PUBLIC_URL: 'https://auth.coffee.example//' }).publicUrl).toBe(
      'https://auth.coffee.example',
    )
    expect(loadConfig({ JWT_ALGORITHM: 'HS256', SIGNING_KEY_ROTATION: 'OFF' })).toMatchObject({
      jwtAlgorithm: 'HS256',
      signingKeyRotationMs: null,
      auditRetentionMs: 365 * 86_400_000,
    })
    expect(
      problemsOf({
        JWT_ALGORITHM: 'RS256',
        PUBLIC_URL: 'ftp://auth.example',
        KEY_REFRESH_INTERVAL: 'soon',
        SIGNING_KEY_ROTATION: '10m',
      }),
    ).toEqual([
      'JWT_ALGORITHM: must be one of ES256, EdDSA, HS256 (got "RS256")',
      'PUBLIC_URL: must be a URL starting with http: or https:// (got "ftp://auth.example")',
      'KEY_REFRESH_INTERVAL: must be a duration like 30s, 15m, 12h or 2d (got "soon")',
      'SIGNING_KEY_ROTATION: must be off or a duration of at least 1h, like 90d (got "10m")',
    ])
  })

  it('parses every kind of value', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://u:p@db:5432/shop',
      SECRET_KEY: 'k'.repeat(40),
      ACCESS_TOKEN_TTL: '5m',
      RUN_SCHEDULER: 'false',
      BCRYPT_ROUNDS: '10',
      REDIS_URL: 'redis://cache:6379',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
      TRUST_PROXY: '10.0.0.0/8,127.0.0.1',
      LOG_LEVEL: 'DEBUG',
      FIRST_ADMIN_EMAIL: ' Boss@Example.com ',
      FIRST_ADMIN_PASSWORD: 'a long admin password',
    })
    expect(config).toMatchObject({
      port: 9000,
      databaseUrl: 'postgres://u:p@db:5432/shop',
      accessTokenTtlMs: 300_000,
      runScheduler: false,
      bcryptRounds: 10,
      redisUrl: 'redis://cache:6379',
      corsOrigins: ['https://a.example.com', 'http://localhost:3000'],
      trustProxy: ['10.0.0.0/8', '127.0.0.1'],
      logLevel: 'debug',
      firstAdminEmail: 'boss@example.com',
    })
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2)
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true)
    expect(
      loadConfig({ TRUST_PROXY: ' 10.0.0.0/8 , fd00::/8, 192.168.0.0/255.255.0.0, loopback' })
        .trustProxy,
    ).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.0.0/255.255.0.0', 'loopback'])
    expect(
      loadConfig({ LOGIN_ACCOUNT_MAX_FAILURES: '200', LOGIN_ACCOUNT_WINDOW: '30m' }),
    ).toMatchObject({ loginAccountMaxFailures: 200, loginAccountWindowMs: 1_800_000 })
    // Either login limit may be off on its own.
    expect(loadConfig({ LOGIN_MAX_FAILURES: '0', LOGIN_ACCOUNT_MAX_FAILURES: '5' })).toMatchObject({
      loginMaxFailures: 0,
      loginAccountMaxFailures: 5,
    })
    expect(loadConfig({ LOGIN_ACCOUNT_MAX_FAILURES: '0' }).loginAccountMaxFailures).toBe(0)
  })

  it('refuses TRUST_PROXY=true in production, saying what to set instead', () => {
    const production = { NODE_ENV: 'production', SECRET_KEY: 'p'.repeat(32), SMTP_URL: 'smtp://mx' }
    const problems = problemsOf({ ...production, TRUST_PROXY: 'true' })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/^TRUST_PROXY: /)
    expect(problems[0]).toContain('X-Forwarded-For')
    expect(problems[0]).toContain('hop count')
    expect(problems[0]).toContain('10.0.0.0/8')
    expect(loadConfig({ ...production, TRUST_PROXY: '10.0.0.0/8' }).trustProxy).toEqual([
      '10.0.0.0/8',
    ])
    expect(loadConfig({ ...production, TRUST_PROXY: '1' }).trustProxy).toBe(1)
  })

  it.each([
    ['PORT', 'eighty', 'PORT: must be an integer from 0 to 65535'],
    ['PORT', '70000', 'PORT: must be an integer'],
    ['ACCESS_TOKEN_TTL', '15', 'ACCESS_TOKEN_TTL: must be a duration'],
    ['CLEANUP_INTERVAL', 'soon', 'CLEANUP_INTERVAL: must be a duration'],
    ['RUN_SCHEDULER', 'maybe', 'RUN_SCHEDULER: must be true or false'],
    ['BCRYPT_ROUNDS', '3', 'BCRYPT_ROUNDS: must be an integer from 4 to 31'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL: must be a URL starting with postgres:'],
    ['SMTP_URL', 'not a url', 'SMTP_URL: must be a URL'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL: must be one of'],
    ['CORS_ORIGINS', '*', 'CORS_ORIGINS: must be a comma list of origins'],
    ['TRUST_PROXY', 'everyone', 'TRUST_PROXY: must be'],
    ['TRUST_PROXY', '10.0.0.0/33', 'TRUST_PROXY: must be'],
    ['TRUST_PROXY', '999.0.0.1', 'TRUST_PROXY: must be'],
    ['TRUST_PROXY', '::1/129', 'TRUST_PROXY: must be'],
    ['TRUST_PROXY', '10.0.0.1,', 'TRUST_PROXY: must be'],
    ['TRUST_PROXY', '-1', 'TRUST_PROXY: must be'],
    ['LOGIN_ACCOUNT_MAX_FAILURES', '10', 'LOGIN_ACCOUNT_MAX_FAILURES: must be 0 or more than'],
    ['LOGIN_ACCOUNT_WINDOW', 'an hour', 'LOGIN_ACCOUNT_WINDOW: must be a duration'],
    ['SECRET_KEY', 'short', 'SECRET_KEY: must be at least 32 bytes'],
    ['SECRET_KEY', `changethis${'x'.repeat(30)}`, 'SECRET_KEY: looks like a placeholder'],
  ])('%s=%j is refused with a message naming it', (name, value, message) => {
    const problems = problemsOf({ [name]: value })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(message)
  })

  it('reports every bad variable at once', () => {
    const problems = problemsOf({ PORT: 'x', BCRYPT_ROUNDS: 'y', REFRESH_TOKEN_TTL: 'z' })
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'PORT',
      'REFRESH_TOKEN_TTL',
      'BCRYPT_ROUNDS',
    ])
  })

  it('reports a refused value once, not again against the variables it depends on', () => {
    expect(problemsOf({ LOGIN_MAX_FAILURES: '50', LOGIN_ACCOUNT_MAX_FAILURES: 'y' })).toEqual([
      'LOGIN_ACCOUNT_MAX_FAILURES: must be an integer from 0 to 1000000 (got "y")',
    ])
    // Nor is a good value checked against a refused one.
    expect(problemsOf({ LOGIN_MAX_FAILURES: 'x', LOGIN_ACCOUNT_MAX_FAILURES: '5' })).toEqual([
      'LOGIN_MAX_FAILURES: must be an integer from 0 to 1000000 (got "x")',
    ])
    expect(problemsOf({ MAIL_TRANSPORT: 'smtp', SMTP_URL: 'http://mx' })).toEqual([
      'SMTP_URL: must be a URL starting with smtp: or smtps:// (got "http://mx")',
    ])
    expect(
      problemsOf({ NODE_ENV: 'production', SECRET_KEY: 'short', BCRYPT_ROUNDS: '3' }).map(
        (p) => p.split(':')[0],
      ),
    ).toEqual(['SECRET_KEY', 'BCRYPT_ROUNDS', 'SMTP_URL'])
  })

  it('requires a strong SECRET_KEY in production', () => {
    expect(problemsOf({ NODE_ENV: 'production', MAIL_TRANSPORT: 'log' })).toEqual([
      'SECRET_KEY: is required when NODE_ENV=production (at least 32 bytes)',
    ])
    expect(
      loadConfig({ NODE_ENV: 'production', SECRET_KEY: 'p'.repeat(32), SMTP_URL: 'smtp://mx' })
        .isProduction,
    ).toBe(true)
  })

  it('wants both first-admin variables or neither', () => {
    expect(problemsOf({ FIRST_ADMIN_EMAIL: 'a@example.com' })[0]).toContain('set both or neither')
    expect(
      problemsOf({ FIRST_ADMIN_EMAIL: 'a@example.com', FIRST_ADMIN_PASSWORD: 'short' })[0],
    ).toContain('FIRST_ADMIN_PASSWORD')
    // Set alone, each is still checked: one start names every problem.
    expect(problemsOf({ FIRST_ADMIN_EMAIL: 'bad' })).toEqual([
      'FIRST_ADMIN_EMAIL: Not a valid e-mail address (got "bad")',
      'FIRST_ADMIN_EMAIL, FIRST_ADMIN_PASSWORD: set both or neither',
    ])
    expect(problemsOf({ FIRST_ADMIN_PASSWORD: 'short' })).toEqual([
      'FIRST_ADMIN_PASSWORD: Password must be 8 to 128 characters',
      'FIRST_ADMIN_EMAIL, FIRST_ADMIN_PASSWORD: set both or neither',
    ])
    // An empty variable is an unset one.
    expect(loadConfig({ FIRST_ADMIN_EMAIL: ' ', FIRST_ADMIN_PASSWORD: '' }).firstAdminEmail).toBe(
      null,
    )
  })
})

describe('mail transport', () => {
  const production = { NODE_ENV: 'production', SECRET_KEY: 'p'.repeat(32) }

  it('refuses production without SMTP_URL: codes would be written to the log', () => {
    expect(problemsOf(production)).toEqual([
      'SMTP_URL: is required when NODE_ENV=production (otherwise e-mailed codes are written to the log); set MAIL_TRANSPORT=log if that is what you want',
    ])
  })

  it('lets the operator choose the log in production, out loud', () => {
    expect(loadConfig({ ...production, MAIL_TRANSPORT: 'log' }).mailTransport).toBe('log')
    expect(loadConfig({ ...production, SMTP_URL: 'smtp://mx:25' }).mailTransport).toBe('smtp')
  })

  it('is smtp when SMTP_URL is set, the log otherwise, and MAIL_TRANSPORT=log wins', () => {
    expect(loadConfig({}).mailTransport).toBe('log')
    expect(loadConfig({ SMTP_URL: 'smtp://mx:25' }).mailTransport).toBe('smtp')
    expect(loadConfig({ SMTP_URL: 'smtp://mx:25', MAIL_TRANSPORT: 'LOG' }).mailTransport).toBe(
      'log',
    )
  })

  it.each([
    [{ MAIL_TRANSPORT: 'smtp' }, 'MAIL_TRANSPORT: smtp needs SMTP_URL'],
    [{ MAIL_TRANSPORT: 'pigeon' }, 'MAIL_TRANSPORT: must be smtp or log'],
    [{ ...production, SMTP_URL: 'http://mx' }, 'SMTP_URL: must be a URL'],
  ])('refuses %j with one line naming the variable', (env, message) => {
    const problems = problemsOf(env)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(message)
  })
})

describe('BCRYPT_ROUNDS', () => {
  const production = { NODE_ENV: 'production', SECRET_KEY: 'p'.repeat(32), SMTP_URL: 'smtp://mx' }

  it('is at least 10 in production', () => {
    expect(problemsOf({ ...production, BCRYPT_ROUNDS: '9' })).toEqual([
      'BCRYPT_ROUNDS: must be at least 10 when NODE_ENV=production (got "9")',
    ])
    expect(loadConfig({ ...production, BCRYPT_ROUNDS: '10' }).bcryptRounds).toBe(10)
  })

  it('may be as low as 4 elsewhere (tests)', () => {
    expect(loadConfig({ BCRYPT_ROUNDS: '4' }).bcryptRounds).toBe(4)
  })
})
