import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { unauthorized } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { generateRefreshToken, hashToken } from '../core/security.js'
import type { RefreshTokenRow, UserRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { TokensService } from './tokens.js'

export interface AuthLogger {
  warn(details: Record<string, unknown>, message: string): void
}

/**
 * Who is asking, for security events: the request's logger (it carries the request id)
 * and the client address. Without it (CLI, tests) events go to the service's logger.
 */
export interface RequestContext {
  log: AuthLogger
  clientAddress: string
}

/** A security event, at `warn`: never an e-mail address, token or password. */
export function securityEvent(
  fallback: AuthLogger,
  context: RequestContext | undefined,
  event: string,
  details: Record<string, unknown>,
  message: string,
) {
  const log = context?.log ?? fallback
  log.warn({ event, ...details, clientAddress: context?.clientAddress }, message)
}

export interface TokenPair {
  accessToken: string
  refreshToken: string
  expiresInSeconds: number
}

export interface SessionsServiceDeps {
  config: Pick<Config, 'refreshTokenTtlMs' | 'refreshReuseGraceMs'>
  repositories: Repositories
  clock: Clock
  tokens: TokensService
  logger: AuthLogger
  /** Called on each refresh-token reuse detection (the /metrics counter). */
  onReuseDetected?: () => void
}

const invalidToken = () => unauthorized('invalid_token', 'Invalid or expired refresh token')

/**
 * Logins as refresh-token families: each login is a family, each refresh spends its token
 * and issues the next one of the family, and a logout or a detected reuse revokes it.
 */
export function createSessionsService(deps: SessionsServiceDeps) {
  const { config, repositories, clock, tokens, logger } = deps

  /**
   * A new refresh token in `familyId` (a new login when omitted) and an access token,
   * stored through `repos` (the caller's transaction, if any).
   */
  async function issuePair(
    user: UserRow,
    familyId = newId(),
    repos: Pick<Repositories, 'refreshTokens'> = repositories,
  ): Promise<TokenPair> {
    // Signed first: when no key can sign (a 503), no refresh token is stored for nothing.
    // `sid` is the login, so a refreshed token keeps the one of the login it continues.
    const access = tokens.issueAccessToken(user, familyId)
    const refreshToken = generateRefreshToken()
    await repos.refreshTokens.insert({
      id: newId(),
      userId: user.id,
      familyId,
      tokenHash: hashToken(refreshToken),
      expiresAt: new Date(clock.now().getTime() + config.refreshTokenTtlMs),
    })
    return { accessToken: access.token, refreshToken, expiresInSeconds: access.expiresInSeconds }
  }

  /**
   * A refresh token that could not be spent. Within the grace a spent token is a retry or a
   * racing tab: refused, nothing revoked. After it, someone replays a stolen token: the whole
   * login is revoked.
   */
  async function rejectUnspendable(
    row: RefreshTokenRow | undefined,
    context?: RequestContext,
  ): Promise<never> {
    const now = clock.now()
    if (row?.spentAt && row.revokedAt === null && row.expiresAt > now) {
      if (now.getTime() - row.spentAt.getTime() > config.refreshReuseGraceMs) {
        await repositories.refreshTokens.revokeFamily(row.familyId, now)
        securityEvent(
          logger,
          context,
          'refresh_token_reuse',
          { userId: row.userId, familyId: row.familyId },
          'refresh token reuse detected',
        )
        deps.onReuseDetected?.()
      }
    }
    throw invalidToken()
  }

  return {
    issuePair,

    /** Spends the token and returns a new pair in the same login family. */
    async refresh(refreshToken: string, context?: RequestContext): Promise<TokenPair> {
      const tokenHash = hashToken(refreshToken)
      const pair = await repositories.transaction(async (tx) => {
        // The owner's row is locked before the token is spent: a password change, reset or
        // deactivation committing meanwhile is either waited for (its revocation then refuses
        // the spend) or waits for this commit (and then sees the new token it must revoke).
        const user = await tx.users.lockOwnerOfRefreshToken(tokenHash)
        const spent = await tx.refreshTokens.spend(tokenHash, clock.now())
        if (!spent) return null
        if (!user?.isActive || !user.isVerified) return undefined
        return issuePair(user, spent.familyId, tx)
      })
      if (pair === undefined) throw invalidToken()
      if (pair === null) {
        const row = await repositories.refreshTokens.findByHash(tokenHash)
        return rejectUnspendable(row, context)
      }
      return pair
    },

    /** Ends the login the token belongs to: every token of its family is revoked. */
    async logout(refreshToken: string, context?: RequestContext): Promise<void> {
      const row = await repositories.refreshTokens.findByHash(hashToken(refreshToken))
      const now = clock.now()
      if (!row || row.spentAt || row.revokedAt || row.expiresAt <= now) {
        return rejectUnspendable(row, context)
      }
      await repositories.refreshTokens.revokeFamily(row.familyId, now)
    },
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>
