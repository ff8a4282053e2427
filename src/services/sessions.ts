import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { unauthorized } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { RequestContext, RequestLog } from '../core/request-context.js'
import { generateRefreshToken, hashToken } from '../core/security.js'
import type { RefreshTokenRow, SessionEndReason, SessionRow, UserRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { SessionSelector } from '../repositories/sessions.js'
import type { RecordEvent } from './audit.js'
import type { TokensService } from './tokens.js'

export type AuthLogger = RequestLog
export type { RequestContext }

/**
 * A security event in the log, at `warn`: never an e-mail address, token or password.
 * Without a request (CLI, tests) it goes to the service's logger.
 */
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

/**
 * The one place sessions end, whatever the cause (`reason`): logout, a session call, reuse
 * detection, a password change or reset, deactivation, withdrawn verification. The
 * sessions get `ended_at` and the reason, their refresh tokens are revoked, and their
 * access tokens are refused from the next request on, on every instance (authentication
 * reads the session with the user). Call it with the transaction of the change that causes
 * it; it returns the ids of the sessions it ended.
 */
export async function endSessions(
  tx: Pick<Repositories, 'sessions'>,
  selector: SessionSelector,
  reason: SessionEndReason,
  now: Date,
): Promise<string[]> {
  return tx.sessions.end(selector, reason, now)
}

/** Not ended, not idle past its refresh token's lifetime, not older than SESSION_MAX_AGE. */
export function isLiveSession(
  session: Pick<SessionRow, 'createdAt' | 'expiresAt' | 'endedAt'>,
  now: Date,
  config: Pick<Config, 'sessionMaxAgeMs'>,
): boolean {
  return (
    session.endedAt === null &&
    session.expiresAt > now &&
    now.getTime() - session.createdAt.getTime() < config.sessionMaxAgeMs
  )
}

export interface SessionsServiceDeps {
  config: Pick<Config, 'refreshTokenTtlMs' | 'refreshReuseGraceMs' | 'sessionMaxAgeMs'>
  repositories: Repositories
  clock: Clock
  tokens: TokensService
  logger: AuthLogger
  /** The audit log's writer: events go in the transaction of their change. */
  recordEvent: RecordEvent
  /** Called on each refresh-token reuse detection (the /metrics counter). */
  onReuseDetected?: () => void
}

const invalidToken = () => unauthorized('invalid_token', 'Invalid or expired refresh token')

/**
 * Sessions (logins) as refresh-token families: a login starts one, each refresh spends its
 * token and issues the next one of the session, and a logout or a detected reuse ends it.
 */
export function createSessionsService(deps: SessionsServiceDeps) {
  const { config, repositories, clock, tokens, logger, recordEvent } = deps

  /**
   * When a session used at `now` ends unless used again: the refresh token's lifetime (the
   * idle limit), capped at SESSION_MAX_AGE from its login.
   */
  const expiryAfterUse = (createdAt: Date, now: Date) =>
    new Date(
      Math.min(
        now.getTime() + config.refreshTokenTtlMs,
        createdAt.getTime() + config.sessionMaxAgeMs,
      ),
    )

  /**
   * A new refresh token of `session`, living as long as the session, stored through `repos`
   * (the caller's transaction), with `access`, an access token whose `sid` is the session.
   */
  async function issuePair(
    repos: Pick<Repositories, 'refreshTokens'>,
    user: UserRow,
    session: Pick<SessionRow, 'id' | 'expiresAt'>,
    access: { token: string; expiresInSeconds: number },
  ): Promise<TokenPair> {
    const refreshToken = generateRefreshToken()
    await repos.refreshTokens.insert({
      id: newId(),
      userId: user.id,
      familyId: session.id,
      tokenHash: hashToken(refreshToken),
      expiresAt: session.expiresAt,
    })
    return { accessToken: access.token, refreshToken, expiresInSeconds: access.expiresInSeconds }
  }

  /**
   * A refresh token that could not be spent. Within the grace a spent token is a retry or a
   * racing tab: refused, nothing ended. After it, someone replays a stolen token: the
   * session ends.
   */
  async function rejectUnspendable(
    row: RefreshTokenRow | undefined,
    context?: RequestContext,
  ): Promise<never> {
    const now = clock.now()
    if (row?.spentAt && row.revokedAt === null && row.expiresAt > now) {
      if (now.getTime() - row.spentAt.getTime() > config.refreshReuseGraceMs) {
        const session = { userId: row.userId, sessionId: row.familyId }
        await repositories.transaction(async (tx) => {
          await endSessions(tx, session, 'reuse_detected', now)
          // Whoever replayed the token proved nothing: no actor.
          const event = { userId: row.userId, actorId: null, details: { session_id: row.familyId } }
          await recordEvent(tx, { type: 'refresh.reuse_detected', ...event }, context)
        })
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
    /**
     * A login: a new session, stamped with where it came from, and its first pair. Within
     * `outer`'s transaction when given (a savepoint), so it commits with the caller's change.
     */
    async start(
      user: UserRow,
      context?: RequestContext,
      outer: Repositories = repositories,
    ): Promise<TokenPair> {
      const id = newId()
      // Signed first: when no key can sign (a 503), nothing is stored for nothing.
      const access = tokens.issueAccessToken(user, id)
      const now = clock.now()
      return outer.transaction(async (tx) => {
        const session = await tx.sessions.insert({
          id,
          userId: user.id,
          createdAt: now,
          lastUsedAt: now,
          expiresAt: expiryAfterUse(now, now),
          userAgent: context?.userAgent ?? null,
          ip: context?.clientAddress ?? null,
        })
        const pair = await issuePair(tx, user, session, access)
        // The password proved the user: the actor.
        const details = { session_id: id }
        const event = {
          type: 'login.succeeded',
          userId: user.id,
          actorId: user.id,
          details,
        } as const
        await recordEvent(tx, event, context)
        return pair
      })
    },

    /**
     * Spends the token and returns a new pair of the same session, whose `last_used_at`
     * and idle expiry move (never past SESSION_MAX_AGE from the login).
     */
    async refresh(refreshToken: string, context?: RequestContext): Promise<TokenPair> {
      const tokenHash = hashToken(refreshToken)
      const pair = await repositories.transaction(async (tx) => {
        // The owner's row and the session's are locked before the token is spent: a change
        // that ends the session committing meanwhile is either waited for (its revocation
        // then refuses the spend) or waits for this commit (and then sees the new token it
        // must revoke).
        const locked = await tx.sessions.lockForRefresh(tokenHash)
        const now = clock.now()
        const spent = await tx.refreshTokens.spend(tokenHash, now)
        if (!spent || !locked) return null
        const { user, session } = locked
        if (!user.isActive || !user.isVerified || !isLiveSession(session, now, config)) {
          return undefined
        }
        const expiresAt = expiryAfterUse(session.createdAt, now)
        await tx.sessions.touch(session.id, now, expiresAt)
        const access = tokens.issueAccessToken(user, session.id)
        return issuePair(tx, user, { id: session.id, expiresAt }, access)
      })
      if (pair === undefined) throw invalidToken()
      if (pair === null) {
        const row = await repositories.refreshTokens.findByHash(tokenHash)
        return rejectUnspendable(row, context)
      }
      return pair
    },

    /** Ends the session the token belongs to. */
    async logout(refreshToken: string, context?: RequestContext): Promise<void> {
      const row = await repositories.refreshTokens.findByHash(hashToken(refreshToken))
      const now = clock.now()
      if (!row || row.spentAt || row.revokedAt || row.expiresAt <= now) {
        return rejectUnspendable(row, context)
      }
      const session = { userId: row.userId, sessionId: row.familyId }
      await repositories.transaction(async (tx) => {
        await endSessions(tx, session, 'logout', now)
        // The refresh token proves the caller holds the session: its user is the actor.
        const event = {
          userId: row.userId,
          actorId: row.userId,
          details: { session_id: row.familyId },
        }
        await recordEvent(tx, { type: 'logout', ...event }, context)
      })
    },
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>
