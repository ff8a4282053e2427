import { createHmac, type KeyObject, sign } from 'node:crypto'

export const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * A JWT built by hand, so every header field and claim is under the test's control.
 * `signer`: `'none'` (empty signature), an HMAC secret or secret KeyObject (HS256, or
 * HS512 when the header says so), or a private P-256 or Ed25519 key (JWS form: r‖s).
 */
export function forgeJwt(
  header: unknown,
  claims: unknown,
  signer: 'none' | string | KeyObject,
): string {
  const input = `${b64(header)}.${b64(claims)}`
  if (signer === 'none') return `${input}.`
  if (typeof signer === 'string' || signer.type === 'secret') {
    const hash = (header as { alg?: unknown } | null)?.alg === 'HS512' ? 'sha512' : 'sha256'
    return `${input}.${createHmac(hash, signer).update(input).digest('base64url')}`
  }
  const ec = signer.asymmetricKeyType === 'ec'
  const key = ec ? { key: signer, dsaEncoding: 'ieee-p1363' as const } : signer
  return `${input}.${sign(ec ? 'sha256' : null, Buffer.from(input), key).toString('base64url')}`
}
