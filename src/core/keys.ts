import { createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto'

/**
 * One key per use, derived from SECRET_KEY, so a key that leaks through one use (a JWT
 * library, a code hash in a backup) does not serve another, and no use sees the raw secret.
 */
export interface DerivedKeys {
  /** HS256 signature of access tokens. */
  accessToken: KeyObject
  /** HMAC under which one-time codes are stored. */
  codeHmac: KeyObject
  /** HMAC naming an e-mail address in the log without revealing it. */
  logPseudonym: KeyObject
  /** AES-256-GCM sealing the private signing keys stored in the database. */
  signingKeySealing: KeyObject
  /** AES-256-GCM sealing the TOTP secrets stored in the database. */
  totpSecretSealing: KeyObject
  /** HMAC under which MFA recovery codes are stored. */
  recoveryCodeHmac: KeyObject
}

/** HKDF `info` labels: changing one invalidates what was made with that key. */
const LABELS: Record<keyof DerivedKeys, string> = {
  accessToken: 'coffee-shop-api/access-token/hs256/v1',
  codeHmac: 'coffee-shop-api/one-time-code/hmac-sha256/v1',
  logPseudonym: 'coffee-shop-api/log-pseudonym/hmac-sha256/v1',
  signingKeySealing: 'coffee-shop-api/signing-key-sealing/aes-256-gcm/v1',
  totpSecretSealing: 'coffee-shop-api/totp-secret-sealing/aes-256-gcm/v1',
  recoveryCodeHmac: 'coffee-shop-api/recovery-code/hmac-sha256/v1',
}
const KEY_BYTES = 32

const derive = (secretKey: string, label: string) =>
  createSecretKey(Buffer.from(hkdfSync('sha256', secretKey, '', label, KEY_BYTES)))

/** HKDF-SHA256 of the secret; no salt, as RFC 5869 allows for a uniformly random key. */
export function deriveKeys(secretKey: string): Readonly<DerivedKeys> {
  if (secretKey.length === 0) throw new Error('SECRET_KEY is not set')
  return Object.freeze({
    accessToken: derive(secretKey, LABELS.accessToken),
    codeHmac: derive(secretKey, LABELS.codeHmac),
    logPseudonym: derive(secretKey, LABELS.logPseudonym),
    signingKeySealing: derive(secretKey, LABELS.signingKeySealing),
    totpSecretSealing: derive(secretKey, LABELS.totpSecretSealing),
    recoveryCodeHmac: derive(secretKey, LABELS.recoveryCodeHmac),
  })
}

const derivedBySecret = new Map<string, Readonly<DerivedKeys>>()

/**
 * The keys of `secretKey`, derived on the first call (at start, by createServices) and
 * shared afterwards by everything that needs them: services and the login throttle.
 */
export function keysFor(secretKey: string | null): Readonly<DerivedKeys> {
  const secret = secretKey ?? ''
  let keys = derivedBySecret.get(secret)
  if (!keys) {
    keys = deriveKeys(secret)
    derivedBySecret.set(secret, keys)
  }
  return keys
}

/**
 * Names an (already normalised) e-mail address in security logs: the same address always
 * gives the same value, so events join up, but a log reader cannot test guesses without
 * the secret. An operator can compute it for an address with the same key.
 */
export const emailPseudonym = (keys: Pick<DerivedKeys, 'logPseudonym'>, email: string) =>
  createHmac('sha256', keys.logPseudonym).update(email).digest('hex').slice(0, 32)
