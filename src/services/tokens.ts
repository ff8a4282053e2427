import {
  type AccessClaims,
  type AccessTokenOptions,
  signAccessToken,
  verifyAccessToken,
} from '../core/access-tokens.js'
import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { unauthorized } from '../core/errors.js'
import { createTokenCache } from '../core/token-cache.js'
import type { UserRow } from '../db/schema.js'
import type { UsersRepository } from '../repositories/users.js'
import type { KeyStore } from './key-store.js'

/**
 * Verified asymmetric tokens remembered per instance. At about 600 bytes each, the cache
 * stays under 3 MB; it holds every live token of a few thousand active users.
 */
export const VERIFIED_TOKEN_CACHE_SIZE = 4_096

/** Whole seconds from which a user's access tokens are accepted (JWT `iat` has 1 s resolution). */
const validFromSeconds = (user: UserRow) =>
  user.tokensValidAfter === null ? 0 : Math.ceil(user.tokensValidAfter.getTime() / 1000)

/** Issues access tokens and turns a bearer token back into a live user. */
export function createTokensService(deps: {
  config: Readonly<Config>
  clock: Clock
  users: UsersRepository
  keys: KeyStore
}) {
  const { config, clock, users, keys } = deps
  const options: AccessTokenOptions = {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    ttlMs: config.accessTokenTtlMs,
  }
  const cache = createTokenCache<AccessClaims>(VERIFIED_TOKEN_CACHE_SIZE)
  keys.onKeysRemoved((kids) => cache.dropKeys(kids))

  /**
   * The claims of a valid token. A signature checked before is not checked again while its
   * key is still published (a revoked key's tokens miss, and fail the full check).
   */
  async function verify(token: string): Promise<AccessClaims | null> {
    const now = clock.now()
    const cached = cache.get(token, Math.floor(now.getTime() / 1000))
    if (cached && keys.verificationKeys.publicKey(cached.kid)) return cached.value
    let result = verifyAccessToken(options, keys.verificationKeys, token, now)
    if (!result.ok && result.unknownKid !== undefined) {
      if (!(await keys.reloadForUnknownKid(result.unknownKid))) return null
      result = verifyAccessToken(options, keys.verificationKeys, token, now)
    }
    if (!result.ok) return null
    // HS256 costs about as much as the lookup: only public-key checks are worth keeping.
    if (result.kid !== null) {
      cache.set(token, { value: result.claims, kid: result.kid, exp: result.claims.exp })
    }
    return result.claims
  }

  return {
    /**
     * `iat` never precedes the user's `tokens_valid_after`, so a login right after a
     * password change (same second) still yields a usable token. `sessionId` is the login
     * (refresh-token family) the token belongs to: its `sid` claim.
     */
    issueAccessToken(user: UserRow, sessionId: string) {
      const nowSeconds = Math.floor(clock.now().getTime() / 1000)
      return signAccessToken(
        options,
        keys.signer(),
        { id: user.id, role: user.role, sessionId },
        Math.max(nowSeconds, validFromSeconds(user)),
      )
    },

    /**
     * The user behind a bearer token, or a 401: bad token, user gone, inactive, unverified
     * (an admin may withdraw verification; login then says why with a 403), or revoked.
     * The user row is read on every request, so those changes apply at once.
     */
    async authenticate(token: string): Promise<UserRow> {
      const claims = await verify(token)
      const user = claims && (await users.findById(claims.sub))
      if (!claims || !user?.isActive || !user.isVerified || claims.iat < validFromSeconds(user)) {
        throw unauthorized('invalid_token', 'Could not validate credentials')
      }
      return user
    },
  }
}

export type TokensService = ReturnType<typeof createTokensService>
