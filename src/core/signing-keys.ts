import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto'
import { open, seal } from './sealing.js'

/** The algorithms access tokens may be signed with (`JWT_ALGORITHM`). */
export const JWT_ALGORITHMS = ['ES256', 'EdDSA', 'HS256'] as const
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]
/** The ones with a key pair, published in the JWKS. */
export type AsymmetricAlgorithm = Exclude<JwtAlgorithm, 'HS256'>

export const isAsymmetric = (algorithm: JwtAlgorithm): algorithm is AsymmetricAlgorithm =>
  algorithm !== 'HS256'

/**
 * A public JWK as published: only the public parameters of its key type, so a private
 * part (`d`) can never reach the JWKS, whatever the stored JSON holds.
 */
export interface PublicJwk {
  kty: 'EC' | 'OKP'
  crv: 'P-256' | 'Ed25519'
  x: string
  y?: string
  kid: string
  alg: AsymmetricAlgorithm
  use: 'sig'
}

const CURVES: Record<AsymmetricAlgorithm, { kty: 'EC' | 'OKP'; crv: 'P-256' | 'Ed25519' }> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
}

const BASE64URL = /^[A-Za-z0-9_-]+$/
/** Coordinates of a P-256 point and an Ed25519 key are 32 bytes: 43 base64url characters. */
const COORDINATE = /^[A-Za-z0-9_-]{43}$/

/** The public parameters of `jwk` for `algorithm`, or null when they are missing or malformed. */
function publicParameters(algorithm: AsymmetricAlgorithm, jwk: Record<string, unknown>) {
  const { kty, crv } = CURVES[algorithm]
  if (jwk.kty !== kty || jwk.crv !== crv || typeof jwk.x !== 'string') return null
  if (!COORDINATE.test(jwk.x)) return null
  if (kty === 'OKP') return { kty, crv, x: jwk.x }
  if (typeof jwk.y !== 'string' || !COORDINATE.test(jwk.y)) return null
  return { kty, crv, x: jwk.x, y: jwk.y }
}

/** RFC 7638 thumbprint (SHA-256, base64url): the `kid`, so a key names itself. */
function thumbprint(parameters: NonNullable<ReturnType<typeof publicParameters>>): string {
  // Required members only, in lexicographic order, no whitespace (RFC 7638 §3).
  const canonical =
    parameters.kty === 'EC'
      ? { crv: parameters.crv, kty: parameters.kty, x: parameters.x, y: parameters.y }
      : { crv: parameters.crv, kty: parameters.kty, x: parameters.x }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}

/**
 * The JWK to publish for a stored key, built field by field from an allow-list; null when
 * the stored JSON does not describe a key of `algorithm` (it is then neither published
 * nor used).
 */
export function toPublicJwk(
  kid: string,
  algorithm: AsymmetricAlgorithm,
  jwk: Record<string, unknown>,
): PublicJwk | null {
  const parameters = publicParameters(algorithm, jwk)
  if (parameters === null || !BASE64URL.test(kid)) return null
  return { ...parameters, kid, alg: algorithm, use: 'sig' }
}

/** The verification key of a published JWK (node:crypto imports only the public part). */
export const publicKeyOf = (jwk: PublicJwk): KeyObject =>
  createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' })

export interface GeneratedKeyPair {
  kid: string
  algorithm: AsymmetricAlgorithm
  publicJwk: PublicJwk
  privateKey: KeyObject
}

/** A fresh key pair from the CSPRNG, named by its thumbprint. */
export function generateSigningKeyPair(algorithm: AsymmetricAlgorithm): GeneratedKeyPair {
  const { privateKey, publicKey } =
    algorithm === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519')
  const exported = publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  const parameters = publicParameters(algorithm, exported)
  if (parameters === null) throw new Error(`node:crypto exported an unexpected ${algorithm} key`)
  const kid = thumbprint(parameters)
  return {
    kid,
    algorithm,
    publicJwk: { ...parameters, kid, alg: algorithm, use: 'sig' },
    privateKey,
  }
}

/*
 * Private keys are stored sealed (core/sealing.ts): PKCS#8 DER under AES-256-GCM with a key
 * derived from SECRET_KEY, and the kid as additional data, so a database dump alone cannot
 * sign, and a ciphertext moved onto another row does not open.
 */
export const sealPrivateKey = (encryptionKey: KeyObject, kid: string, privateKey: KeyObject) =>
  seal(encryptionKey, kid, privateKey.export({ format: 'der', type: 'pkcs8' }))

/** The private key sealed by `sealPrivateKey`; throws when the key, kid or text do not match. */
export const openPrivateKey = (encryptionKey: KeyObject, kid: string, sealed: string): KeyObject =>
  createPrivateKey({ key: open(encryptionKey, kid, sealed), format: 'der', type: 'pkcs8' })
