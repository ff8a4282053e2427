import { createHmac, type KeyObject, sign, verify } from 'node:crypto'
import { newId } from './ids.js'
import { type Role, safeEqual } from './security.js'
import type { AsymmetricAlgorithm, JwtAlgorithm } from './signing-keys.js'

export interface AccessTokenOptions {
  issuer: string
  audience: string
  ttlMs: number
}

/** What signs new tokens: the HS256 key, or the current key pair's private half and kid. */
export type TokenSigner =
  | { algorithm: 'HS256'; key: KeyObject }
  | { algorithm: AsymmetricAlgorithm; kid: string; key: KeyObject }

export interface AccessClaims {
  sub: string
  role: Role
  /** Seconds since the epoch, as in the token. */
  iat: number
  exp: number
  jti: string
  /** The login (refresh-token family) the token belongs to; null in tokens made before it. */
  sid: string | null
}

/**
 * What verifies tokens. Only the configured algorithm is accepted, with keys of that
 * algorithm only (a kid names one key, and its algorithm is the header's); HS256 only
 * with the HMAC key, never with a public key (key confusion).
 */
export interface VerificationKeys {
  algorithm: JwtAlgorithm
  /** The public key of `kid` when it is published for the configured algorithm. */
  publicKey(kid: string): KeyObject | undefined
  /**
   * The HMAC key, in HS256 mode (`issuedBefore` infinite) or while tokens signed before
   * the upgrade to asymmetric keys are still accepted (`issuedBefore` = the upgrade,
   * seconds); null otherwise.
   */
  hs256: { key: KeyObject; issuedBefore: number } | null
}

export type Verification =
  | { ok: true; claims: AccessClaims; kid: string | null }
  | { ok: false; unknownKid?: string }

const ACCESS_TOKEN_TYPE = 'at+jwt'
const REFUSED: Verification = { ok: false }

const base64urlJson = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** node:crypto's arguments for an algorithm: JWS carries ECDSA signatures as raw r‖s. */
const digestOf = (algorithm: AsymmetricAlgorithm) => (algorithm === 'ES256' ? 'sha256' : null)
const keyInput = (algorithm: AsymmetricAlgorithm, key: KeyObject) =>
  algorithm === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key

/** The encoded protected header of a signer, made once per key rather than per token. */
const headerCache = new WeakMap<KeyObject, string>()
function encodedHeader(signer: TokenSigner): string {
  let header = headerCache.get(signer.key)
  if (header === undefined) {
    header = base64urlJson(
      signer.algorithm === 'HS256'
        ? { alg: 'HS256', typ: ACCESS_TOKEN_TYPE }
        : { alg: signer.algorithm, typ: ACCESS_TOKEN_TYPE, kid: signer.kid },
    )
    headerCache.set(signer.key, header)
  }
  return header
}

function signatureOf(signer: TokenSigner, input: string): string {
  if (signer.algorithm === 'HS256') {
    return createHmac('sha256', signer.key).update(input).digest('base64url')
  }
  const { algorithm, key } = signer
  return sign(digestOf(algorithm), Buffer.from(input), keyInput(algorithm, key)).toString(
    'base64url',
  )
}

/**
 * Signs an access token; `issuedAtSeconds` lets the caller keep it after `tokens_valid_after`.
 * Signed with node:crypto, synchronously: jose's WebCrypto signature is a job on the libuv
 * pool, where it queued behind every pending bcrypt and doubled login latency under load.
 */
export function signAccessToken(
  options: AccessTokenOptions,
  signer: TokenSigner,
  subject: { id: string; role: Role; sessionId: string },
  issuedAtSeconds: number,
): { token: string; expiresInSeconds: number } {
  const expiresInSeconds = Math.floor(options.ttlMs / 1000)
  const payload = base64urlJson({
    role: subject.role,
    sub: subject.id,
    sid: subject.sessionId,
    iat: issuedAtSeconds,
    exp: issuedAtSeconds + expiresInSeconds,
    jti: newId(),
    iss: options.issuer,
    aud: options.audience,
  })
  const input = `${encodedHeader(signer)}.${payload}`
  return { token: `${input}.${signatureOf(signer, input)}`, expiresInSeconds }
}

const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/
/** ES256 (r‖s) and Ed25519 signatures are 64 bytes: 86 base64url characters. */
const ASYMMETRIC_SIGNATURE = /^[A-Za-z0-9_-]{86}$/
/** jose's `typ` comparison: case-insensitive, `application/` prefix optional. */
const normaliseTyp = (typ: string) => typ.toLowerCase().replace(/^application\//, '')
/**
 * Header members that would make the token say how to check itself: a critical extension
 * or unencoded payload (none is understood), or a key or where to fetch one. Keys come
 * only from our own store, so a token carrying any of these is refused outright.
 */
const REFUSED_HEADER_MEMBERS = ['crit', 'b64', 'jwk', 'jku', 'x5c', 'x5u']

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

function checkHmac(key: KeyObject, input: string, signature: string): boolean {
  // Compared as canonical base64url text: no second encoding of the same bytes is accepted.
  return safeEqual(signature, createHmac('sha256', key).update(input).digest('base64url'))
}

function checkSignature(
  algorithm: AsymmetricAlgorithm,
  key: KeyObject,
  input: string,
  signature: string,
): boolean {
  if (!ASYMMETRIC_SIGNATURE.test(signature)) return false
  const bytes = Buffer.from(signature, 'base64url')
  // 86 characters hold 64 bytes and 4 spare bits: only the encoding with them zero counts.
  if (bytes.toString('base64url') !== signature) return false
  return verify(digestOf(algorithm), Buffer.from(input), keyInput(algorithm, key), bytes)
}

/** The claims, when every one has the type and value signing gives it; null otherwise. */
function checkClaims(
  options: AccessTokenOptions,
  claims: Record<string, unknown>,
  nowSeconds: number,
): AccessClaims | null {
  const { sub, role, iat, exp, jti, iss, aud, nbf, sid } = claims
  if (typeof sub !== 'string' || typeof jti !== 'string') return null
  if (typeof iat !== 'number' || typeof exp !== 'number') return null
  if (sid !== undefined && typeof sid !== 'string') return null
  if (iss !== options.issuer) return null
  if (aud !== options.audience && !(Array.isArray(aud) && aud.includes(options.audience))) {
    return null
  }
  if (exp <= nowSeconds) return null
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) return null
  if (role !== 'user' && role !== 'admin') return null
  return { sub, role, iat, exp, jti, sid: sid ?? null }
}

/**
 * Verifies the signature with the key the configuration allows for the header's `alg` and
 * `kid`, then `typ`, issuer, audience, expiry and the JSON type of every claim. A kid not
 * (yet) known is reported as such, so the caller can reload the key set and try again.
 *
 * The checks are those of jose's `jwtVerify` with the options signing uses, done
 * synchronously with node:crypto: jose goes through WebCrypto (a key import and a
 * thread-pool job per call). test/unit/access-token.test.ts holds both to jose's verdict.
 */
export function verifyAccessToken(
  options: AccessTokenOptions,
  keys: VerificationKeys,
  token: string,
  now: Date,
): Verification {
  const parts = token.split('.')
  if (parts.length !== 3) return REFUSED
  const [header, payload, signature] = parts as [string, string, string]
  if (![header, payload, signature].every((part) => BASE64URL_SEGMENT.test(part))) return REFUSED
  const head = decodeJsonObject(header)
  if (head === null || typeof head.typ !== 'string') return REFUSED
  if (normaliseTyp(head.typ) !== ACCESS_TOKEN_TYPE) return REFUSED
  if (REFUSED_HEADER_MEMBERS.some((member) => member in head)) return REFUSED

  const input = `${header}.${payload}`
  let kid: string | null = null
  if (head.alg === 'HS256') {
    // Our HS256 tokens never name a key: one that does was not made here.
    if (keys.hs256 === null || 'kid' in head) return REFUSED
    if (!checkHmac(keys.hs256.key, input, signature)) return REFUSED
  } else if (head.alg === keys.algorithm && keys.algorithm !== 'HS256') {
    if (typeof head.kid !== 'string') return REFUSED
    kid = head.kid
    const key = keys.publicKey(kid)
    if (key === undefined) return { ok: false, unknownKid: kid }
    if (!checkSignature(keys.algorithm, key, input, signature)) return REFUSED
  } else {
    return REFUSED
  }

  const body = decodeJsonObject(payload)
  const claims = body && checkClaims(options, body, Math.floor(now.getTime() / 1000))
  if (!claims) return REFUSED
  // After an upgrade, an HS256 token is one from before it, or none: whoever still holds
  // the HMAC key cannot mint new ones.
  if (kid === null && keys.hs256 !== null && claims.iat >= keys.hs256.issuedBefore) return REFUSED
  return { ok: true, claims, kid }
}
