import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { unauthorized } from '../core/errors.js'
import type { DerivedKeys } from '../core/keys.js'
import { type AccessTokenOptions, signAccessToken, verifyAccessToken } from '../core/security.js'
import type { UserRow } from '../db/schema.js'
import type { UsersRepository } from '../repositories/users.js'

/** Whole seconds from which a user's access tokens are accepted (JWT `iat` has 1 s resolution). */
const validFromSeconds = (user: UserRow) =>
  user.tokensValidAfter === null ? 0 : Math.ceil(user.tokensValidAfter.getTime() / 1000)

/** Issues access tokens and turns a bearer token back into a live user. */
export function createTokensService(deps: {
  config: Readonly<Config>
  clock: Clock
  users: UsersRepository
  keys: Pick<DerivedKeys, 'accessToken'>
}) {
  const { config, clock, users } = deps
  const options: AccessTokenOptions = {
    key: deps.keys.accessToken,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    ttlMs: config.accessTokenTtlMs,
  }

  return {
    /**
     * `iat` never precedes the user's `tokens_valid_after`, so a login right after a
     * password change (same second) still yields a usable token.
     */
    issueAccessToken(user: UserRow) {
      const nowSeconds = Math.floor(clock.now().getTime() / 1000)
      return signAccessToken(options, user, Math.max(nowSeconds, validFromSeconds(user)))
    },

    /**
     * The user behind a bearer token, or a 401: bad token, user gone, inactive, unverified
     * (an admin may withdraw verification; login then says why with a 403), or revoked.
     */
    async authenticate(token: string): Promise<UserRow> {
      const claims = await verifyAccessToken(options, token, clock.now())
      const user = claims && (await users.findById(claims.sub))
      if (!claims || !user?.isActive || !user.isVerified || claims.iat < validFromSeconds(user)) {
        throw unauthorized('invalid_token', 'Could not validate credentials')
      }
      return user
    },
  }
}

export type TokensService = ReturnType<typeof createTokensService>
