import { createHmac, type KeyObject, randomBytes, randomInt } from 'node:crypto'
import { Secret, TOTP } from 'otpauth'

/** RFC 6238 as authenticator apps expect it: HMAC-SHA-1, 6 digits, 30-second steps. */
const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30 } as const
const TOTP_PERIOD_MS = TOTP_PARAMETERS.period * 1000
/** Steps of clock drift accepted either way. */
const TOTP_WINDOW = 1
/** 160 bits, the HMAC-SHA-1 key length RFC 4226 recommends. */
const TOTP_SECRET_BYTES = 20
const ISSUER = 'Coffee Shop'

export const generateTotpSecret = () => randomBytes(TOTP_SECRET_BYTES)

const secretOf = (secret: Buffer) => new Secret({ buffer: new Uint8Array(secret).buffer })

/** The secret as typed into an authenticator by hand (base32, RFC 4648, no padding). */
export const totpSecretText = (secret: Buffer) => secretOf(secret).base32

/** The `otpauth://totp/…` URI an authenticator reads from a QR code. */
export const totpUri = (secret: Buffer, accountEmail: string) =>
  new TOTP({
    issuer: ISSUER,
    label: accountEmail,
    secret: secretOf(secret),
    ...TOTP_PARAMETERS,
  }).toString()

/** The step (30-second counter since the epoch) that `at` falls in. */
const totpStep = (at: Date) => Math.floor(at.getTime() / TOTP_PERIOD_MS)

/**
 * The step whose code `code` is, within one step of `now`; null when it is none of them.
 * The caller refuses a step not later than the last one accepted (no replay).
 */
export function matchTotp(secret: Buffer, code: string, now: Date): number | null {
  if (!/^[0-9]{6}$/.test(code)) return null
  const delta = TOTP.validate({
    token: code,
    secret: secretOf(secret),
    timestamp: now.getTime(),
    window: TOTP_WINDOW,
    ...TOTP_PARAMETERS,
  })
  return delta === null ? null : totpStep(now) + delta
}

/** A TOTP code is six digits; anything else offered as a code is taken for a recovery code. */
export const looksLikeTotp = (code: string) => /^[0-9]{6}$/.test(code)

export const RECOVERY_CODE_COUNT = 10
// No 0/o, 1/l/i: read off paper and typed by hand. 31 symbols, 12 of them: about 59 bits.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'
const RECOVERY_GROUPS = 3
const RECOVERY_GROUP_LENGTH = 4

/** `RECOVERY_CODE_COUNT` fresh codes such as `k7qm-x2fd-9hta`, from the CSPRNG. */
export function generateRecoveryCodes(): string[] {
  const group = () =>
    Array.from(
      { length: RECOVERY_GROUP_LENGTH },
      () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)],
    ).join('')
  return Array.from({ length: RECOVERY_CODE_COUNT }, () =>
    Array.from({ length: RECOVERY_GROUPS }, group).join('-'),
  )
}

/** Case, spaces and hyphens do not matter when a code is typed back. */
const normaliseRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]/g, '')

/**
 * How a recovery code is stored. A fast keyed hash is enough, unlike for passwords: each
 * code carries about 59 random bits, so there is no dictionary to try, and without the
 * key (derived from SECRET_KEY) a stolen table cannot even be tested offline.
 */
export const hashRecoveryCode = (key: KeyObject, code: string) =>
  createHmac('sha256', key).update(normaliseRecoveryCode(code)).digest('hex')
