import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto'

/*
 * Secrets stored in the database are sealed as `v1.` + base64url(iv ‖ tag ‖ ciphertext):
 * AES-256-GCM under a key derived from SECRET_KEY (core/keys.ts), with the row's identity
 * as additional data, so a database dump alone opens nothing, and a ciphertext moved onto
 * another row does not open.
 */
const SEALED_VERSION = 'v1.'
const IV_BYTES = 12
const TAG_BYTES = 16

/** `plaintext` sealed under `key`, bound to `aad` (the row it is stored in). */
export function seal(key: KeyObject, aad: string, plaintext: Buffer): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(aad))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const sealed = Buffer.concat([iv, cipher.getAuthTag(), ciphertext])
  return `${SEALED_VERSION}${sealed.toString('base64url')}`
}

/** The plaintext sealed by `seal`; throws when the key, `aad` or text do not match. */
export function open(key: KeyObject, aad: string, sealed: string): Buffer {
  if (!sealed.startsWith(SEALED_VERSION)) throw new Error('unknown sealed format')
  const bytes = Buffer.from(sealed.slice(SEALED_VERSION.length), 'base64url')
  if (bytes.length <= IV_BYTES + TAG_BYTES) throw new Error('sealed ciphertext too short')
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES))
  decipher.setAAD(Buffer.from(aad)).setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()])
}
