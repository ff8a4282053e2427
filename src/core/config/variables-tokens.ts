import { JWT_ALGORITHMS } from '../signing-keys.js'
import { baseUrl, duration, durationOrOff, integer, oneOf, secretKey, text } from './parsers.js'
import { variable } from './variable.js'

/** Rotating more often than this would sign with keys verifiers may not have fetched yet. */
const MIN_KEY_ROTATION_MS = 3_600_000

export const TOKENS = {
  /** Null until resolveSecretKey() fills it from the data folder (development only). */
  secretKey: variable({
    env: 'SECRET_KEY',
    parse: secretKey,
    example: '',
    unset: 'generated',
    production: 'required in production',
    doc: 'Master secret, at least 32 bytes; generate one with `openssl rand -hex 32`. The JWT signing key and the key of the stored code hashes are derived from it (HKDF-SHA256). Required when NODE_ENV=production; otherwise generated once into DATA_DIR/secret_key.',
    summary: '≥ 32 bytes; seals the signing keys, derives the HMAC keys',
  }),
  jwtIssuer: variable({
    env: 'JWT_ISSUER',
    parse: text,
    default: 'coffee-shop-api',
    doc: '`iss` and `aud` of access tokens.',
    summary: '`iss`/`aud` of access tokens',
  }),
  jwtAudience: variable({ env: 'JWT_AUDIENCE', parse: text, default: 'coffee-shop' }),
  jwtAlgorithm: variable({
    env: 'JWT_ALGORITHM',
    parse: oneOf(JWT_ALGORITHMS),
    default: 'ES256',
    doc: 'How access tokens are signed: ES256 or EdDSA (a key pair kept in the database, private half sealed with a key derived from SECRET_KEY, public half at /.well-known/jwks.json so other services verify without a secret), or HS256 (a key derived from SECRET_KEY; one service only).',
    summary: '`ES256`, `EdDSA` (published keys) or `HS256` (one service)',
  }),
  /** The base of absolute URLs in metadata (no trailing slash); unset: from PORT. */
  publicUrl: variable({
    env: 'PUBLIC_URL',
    parse: baseUrl,
    example: 'https://auth.coffee.example',
    unset: '`http://localhost:$PORT`',
    doc: 'Base of the absolute URLs in /.well-known/oauth-authorization-server; unset: http://localhost:$PORT. Set it to the address other services reach this API at.',
    summary: 'base of the absolute URLs in the metadata',
  }),
  keyRefreshIntervalMs: variable({
    env: 'KEY_REFRESH_INTERVAL',
    parse: duration(1_000),
    default: '30s',
    doc: 'How often each instance reloads the signing keys (changes are also pushed at once).',
    summary: 'key reload period (changes are also pushed)',
  }),
  /** Null: the scheduler never rotates the signing key on its own. */
  signingKeyRotationMs: variable({
    env: 'SIGNING_KEY_ROTATION',
    parse: durationOrOff(MIN_KEY_ROTATION_MS, '1h'),
    default: 'off',
    doc: 'Age at which the background job (the API unless RUN_SCHEDULER=false, or the worker) rotates the signing key on its own, like 90d (at least 1h), or off.',
    summary: 'age at which the job rotates the signing key (`90d`)',
  }),
  accessTokenTtlMs: variable({
    env: 'ACCESS_TOKEN_TTL',
    parse: duration(1_000),
    default: '15m',
    doc: 'Access-token lifetime, refresh-token lifetime, and how long a spent refresh token may be presented again (a retry, two tabs racing) before it counts as reuse and ends the login.',
    summary: 'token lifetimes, grace for a spent refresh token',
  }),
  refreshTokenTtlMs: variable({ env: 'REFRESH_TOKEN_TTL', parse: duration(1_000), default: '30d' }),
  refreshReuseGraceMs: variable({ env: 'REFRESH_REUSE_GRACE', parse: duration(0), default: '10s' }),
  /** Absolute session lifetime from login, however often it is refreshed. */
  sessionMaxAgeMs: variable({
    env: 'SESSION_MAX_AGE',
    parse: duration(60_000),
    default: '90d',
    doc: 'Absolute lifetime of a session (one login) from its login, however often it is refreshed; REFRESH_TOKEN_TTL is its idle limit. Its access tokens are refused from then on.',
    summary: 'absolute session lifetime from login',
  }),
  codeTtlMs: variable({
    env: 'CODE_TTL',
    parse: duration(1_000),
    default: '15m',
    doc: 'Lifetime of e-mailed codes: verification, password reset and e-mail change.',
    summary: 'lifetime of e-mailed codes',
  }),
  bcryptRounds: variable({
    env: 'BCRYPT_ROUNDS',
    parse: integer(4, 31),
    default: '12',
    production: '≥ 10 in production',
    doc: "bcrypt cost factor (4-31, at least 10 in production); each +1 doubles the time of a login. A stored hash of a lower cost is re-hashed at the user's next successful login.",
    summary: 'bcrypt cost; upgraded at login',
  }),
}
