/**
 * How another service of the shop checks the API's access tokens: with the public keys the
 * API publishes (`GET /.well-known/jwks.json`) and no secret, using jose
 * (https://github.com/panva/jose). Copy it into that service; it needs nothing else.
 *
 * Try it against a running API with a token from `POST /auth/login`:
 *   node --import tsx examples/verify-with-jwks.ts http://localhost:8000 eyJhbGciOi…
 * It prints the claims, or why the token is refused (exit status 1).
 */
import { pathToFileURL } from 'node:url'
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose'

export interface VerifierOptions {
  /** The API's key set, e.g. `https://auth.coffee.example/.well-known/jwks.json`. */
  jwksUrl: string | URL
  /** The API's `JWT_ISSUER` (default `coffee-shop-api`). */
  issuer: string
  /** The API's `JWT_AUDIENCE` (default `coffee-shop`). */
  audience: string
  /** The API's `JWT_ALGORITHM`; pin it, never take the algorithm from the token. */
  algorithm?: 'ES256' | 'EdDSA'
}

/** What a verified access token says. */
export interface AccessToken {
  /** The user id. */
  userId: string
  role: 'user' | 'admin'
  /** The login (session) the token belongs to. */
  sessionId: string | undefined
  tokenId: string
  expiresAt: Date
}

/**
 * A function that verifies access tokens, throwing (a jose error saying why) for any token
 * that is not a valid, unexpired access token of this API for this audience.
 *
 * The key set is fetched on first use and kept for 5 minutes (the API's `max-age`); a
 * token naming a `kid` not in it fetches it again (at most every 30 s), which is how a
 * rotated key is picked up. A revoked key disappears from the set at once, but a verifier
 * still holding the old set accepts its tokens until it fetches again (at most 5 minutes).
 */
export function createAccessTokenVerifier(options: VerifierOptions) {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl), {
    cacheMaxAge: 5 * 60_000,
    cooldownDuration: 30_000,
  })
  return async function verifyAccessToken(token: string): Promise<AccessToken> {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: [options.algorithm ?? 'ES256'],
      issuer: options.issuer,
      audience: options.audience,
      // An access token, not an ID token or any other JWT the issuer may sign.
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
    })
    return toAccessToken(payload)
  }
}

function toAccessToken(payload: JWTPayload): AccessToken {
  const { sub, role, sid, jti, exp } = payload
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') {
    throw new Error('malformed access token claims')
  }
  if (role !== 'user' && role !== 'admin') throw new Error('unknown role in access token')
  if (sid !== undefined && typeof sid !== 'string') throw new Error('malformed sid claim')
  return { userId: sub, role, sessionId: sid, tokenId: jti, expiresAt: new Date(exp * 1000) }
}

/**
 * A verifier configured from the API's RFC 8414 metadata (`issuer`, `jwks_uri`). The
 * metadata URL is configuration you trust, like the key set's.
 */
export async function discoverVerifier(
  apiBaseUrl: string,
  audience: string,
  algorithm?: VerifierOptions['algorithm'],
) {
  const url = new URL('/.well-known/oauth-authorization-server', apiBaseUrl)
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${url}: ${response.status}`)
  const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown }
  if (typeof metadata.issuer !== 'string' || typeof metadata.jwks_uri !== 'string') {
    throw new Error(`${url}: no issuer or jwks_uri`)
  }
  return createAccessTokenVerifier({
    jwksUrl: metadata.jwks_uri,
    issuer: metadata.issuer,
    audience,
    algorithm,
  })
}

async function main(args: string[]): Promise<number> {
  const [baseUrl, token, audience = 'coffee-shop', algorithm = 'ES256'] = args
  if (!baseUrl || !token || (algorithm !== 'ES256' && algorithm !== 'EdDSA')) {
    console.error(
      'usage: node --import tsx examples/verify-with-jwks.ts API_URL ACCESS_TOKEN [AUDIENCE] [ES256|EdDSA]',
    )
    return 2
  }
  const verify = await discoverVerifier(baseUrl, audience, algorithm)
  try {
    console.log(JSON.stringify(await verify(token)))
    return 0
  } catch (error) {
    const code = (error as { code?: unknown }).code
    console.error(`refused: ${typeof code === 'string' ? `${code}: ` : ''}${String(error)}`)
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (status) => process.exit(status),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error)
      process.exit(1)
    },
  )
}
