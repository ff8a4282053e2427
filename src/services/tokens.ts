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
import type { AuthCache } from './auth-cache.js'
import type { KeyStore } from './key-store.js'
import { isLiveSession } from './sessions.js'

/**
 * Verified asymmetric tokens remembered per instance. At about 600 bytes each, the cache
 * stays under 3 MB; it holds every live token of a few thousand active users.
 */
export const VERIFIED_TOKEN_CACHE_SIZE = 4_096

/** Whole seconds from which a user's access tokens are accepted (JWT `iat` has 1 s resolution). */
const validFromSeconds = (user: UserRow) =>
  user.tokensValidAfter === null ? 0 : Math.ceil(user.tokensValidAfter.getTime() / 1000)

/** Who a request's access token speaks for. */
export interface Authenticated {
  user: UserRow
  /** The token's session; null for a token from before sessions were named (HS256 upgrade). */
  sessionId: string | null
}

const invalidAccessToken = () => unauthorized('invalid_token', 'Could not validate credentials')

/** Active, verified, and the token not older than the user's last password change. */
const isUsable = (user: UserRow, claims: AccessClaims) =>
  user.isActive && user.isVerified && claims.iat >= validFromSeconds(user)

/** Issues access tokens and turns a bearer token back into a live user. */
export function createTokensService(deps: {
  config: Readonly<Config>
  clock: Clock
  users: UsersRepository
  keys: KeyStore
  /** Recently authenticated users and sessions of this instance. */
  authCache: Pick<AuthCache, 'find'>
}) {
  const { config, clock, users, keys, authCache } = deps
  const options: AccessTokenOptions = {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    ttlMs: config.accessTokenTtlMs,
  }
  const cache = createTokenCache<AccessClaims>(VERIFIED_TOKEN_CACHE_SIZE)

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
     * The user behind a bearer token and its session, or a 401: bad token, user gone,
     * inactive, unverified (an admin may withdraw verification; login then says why with a
     * 403), or its session ended or expired. The user row and the session's come from the
     * database (one query) or from the auth cache, which sees every change committed before
     * the request: those changes apply at once on every instance.
     */
    async authenticate(token: string): Promise<Authenticated> {
      const claims = await verify(token)
      if (claims === null) throw invalidAccessToken()
      const now = clock.now()
      if (claims.sid === null) {
        // Signed with HS256 before the upgrade to asymmetric keys, when tokens named no
        // session: accepted on the user alone until they expire (ACCESS_TOKEN_TTL at most).
        const user = await users.findById(claims.sub)
        if (!user || !isUsable(user, claims)) throw invalidAccessToken()
        return { user, sessionId: null }
      }
      const { sub, sid } = claims
      const found = await authCache.find(sub, sid, () => users.findWithSession(sub, sid))
      const { session } = found ?? {}
      if (
        !found ||
        !isUsable(found.user, claims) ||
        !session ||
        !isLiveSession(session, now, config)
      ) {
        throw invalidAccessToken()
      }
      return { user: found.user, sessionId: claims.sid }
    },
  }
}

export type TokensService = ReturnType<typeof createTokensService>
