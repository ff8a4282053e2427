import { boolean, duration, email, integer, oneOf, password, text, url } from './parsers.js'
import { variable } from './variable.js'

export const E_MAIL = {
  smtpUrl: variable({
    env: 'SMTP_URL',
    parse: url(['smtp:', 'smtps:']),
    example: 'smtp://127.0.0.1:1025',
    unset: 'log',
    production: 'required in production',
    doc: 'smtp://user:pass@host:587 or smtps://…; unset: e-mails (codes included) go to the log, which production refuses unless MAIL_TRANSPORT=log.',
    summary: 'SMTP server for e-mail; production waives it for `MAIL_TRANSPORT=log`',
  }),
  /** Where e-mails (and their codes) go; unset: `smtp` when SMTP_URL is set, else `log`. */
  mailTransport: variable({
    env: 'MAIL_TRANSPORT',
    parse: oneOf(['smtp', 'log'], 'must be smtp or log'),
    example: 'log',
    unset: 'from `SMTP_URL`',
    doc: 'smtp or log; unset: smtp when SMTP_URL is set, else log. log writes every e-mail, code included, to the log even when SMTP_URL is set.',
    summary: '`log` sends nothing, even with `SMTP_URL`',
  }),
  mailFrom: variable({
    env: 'MAIL_FROM',
    parse: text,
    default: 'Coffee Shop <no-reply@coffee-shop.local>',
    doc: 'Sender of every e-mail.',
    summary: 'sender of every e-mail',
  }),
}

export const LIMITS = {
  rateLimitMax: variable({
    env: 'RATE_LIMIT_MAX',
    parse: integer(0, 1_000_000_000),
    default: '100',
    doc: 'Requests per client per window on every route except /health/*; 0 turns them off.',
    summary: 'requests per client per window (`0` disables)',
  }),
  rateLimitWindowMs: variable({ env: 'RATE_LIMIT_WINDOW', parse: duration(1_000), default: '1m' }),
  /** The stricter per-client limit on signup, login, resend and forgot (per window). */
  authRateLimitMax: variable({
    env: 'AUTH_RATE_LIMIT_MAX',
    parse: integer(0, 1_000_000_000),
    default: '10',
    doc: 'Stricter per-client limit per window on POST /auth/signup, /auth/login, /auth/verify/resend and /auth/password/forgot; 0 leaves them on RATE_LIMIT_MAX.',
    summary: 'stricter limit on sensitive `/auth/*` routes',
  }),
  loginMaxFailures: variable({
    env: 'LOGIN_MAX_FAILURES',
    parse: integer(0, 1_000_000),
    default: '10',
    doc: 'Failed logins per e-mail and client in 15 minutes before login answers 429; 0 disables. A wrong current_password on PATCH /users/{id} counts as a failed login too.',
    summary: 'failed logins per e-mail and client (`0` disables)',
  }),
  /** Failed logins per account from all clients together per window; 0 turns it off. */
  loginAccountMaxFailures: variable({
    env: 'LOGIN_ACCOUNT_MAX_FAILURES',
    parse: integer(0, 1_000_000),
    default: '50',
    doc: "Failed logins per account from all clients together per LOGIN_ACCOUNT_WINDOW (guessing from many addresses); then that account's logins answer 429 for everyone, its owner too, until the window ends. Must be more than LOGIN_MAX_FAILURES; 0 disables.",
    summary: 'failed logins per account, all clients (`0` disables)',
  }),
  loginAccountWindowMs: variable({
    env: 'LOGIN_ACCOUNT_WINDOW',
    parse: duration(1_000),
    default: '1h',
  }),
  redisUrl: variable({
    env: 'REDIS_URL',
    parse: url(['redis:', 'rediss:']),
    example: 'redis://127.0.0.1:6379',
    unset: 'in-process',
    doc: 'redis://host:6379 to share the limits between instances; unset: counted in process.',
    summary: 'shared rate-limit store',
  }),
  /** Prepended to every Redis key, so environments can share one Redis. */
  redisKeyPrefix: variable({
    env: 'REDIS_KEY_PREFIX',
    parse: text,
    default: 'coffee-shop:',
    doc: 'Prefix of every Redis key, so several environments can share one Redis.',
    summary: 'Redis key prefix',
  }),
  bodyLimitBytes: variable({
    env: 'BODY_LIMIT_BYTES',
    parse: integer(1024, 10 * 1024 * 1024),
    default: '65536',
    doc: 'Largest accepted request body in bytes (1024 to 10485760); larger bodies get 413.',
    summary: 'larger bodies get `413`',
  }),
}

/**
 * By the rules the API applies to every account, so a value that passes here is never
 * refused by the service later, mid-start.
 */
export const FIRST_ADMIN = {
  firstAdminEmail: variable({
    env: 'FIRST_ADMIN_EMAIL',
    parse: email,
    example: 'admin@example.com',
    doc: 'Create this verified admin at start when no admin exists (set both or neither).',
    summary: 'create this verified admin at start if no admin exists',
  }),
  // Passwords are compared exactly as given: no trimming, and never echoed.
  firstAdminPassword: variable({
    env: 'FIRST_ADMIN_PASSWORD',
    parse: password,
    secret: true,
    example: '',
  }),
}

export const MFA = {
  /** Admins must turn on two-factor authentication before using their rights. */
  requireAdminMfa: variable({
    env: 'REQUIRE_ADMIN_MFA',
    parse: boolean,
    default: 'false',
    doc: 'true: an admin without two-factor authentication can reach only GET /users/me and the enrolment routes (POST /users/me/mfa/totp, …/confirm) until enrolled; every other authenticated route answers 403 mfa_enrolment_required.',
    summary: 'admins must enrol in two-factor authentication first',
  }),
}
