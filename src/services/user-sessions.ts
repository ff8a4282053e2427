import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import { notFound } from '../core/errors.js'
import type { RequestContext } from '../core/request-context.js'
import type { SessionRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'
import type { RecordEvent } from './audit.js'
import { endSessions, isLiveSession } from './sessions.js'

/** A session as its user or an admin sees it: `current` when it is the asking token's. */
export interface SessionView {
  session: SessionRow
  current: boolean
}

const sessionNotFound = () => notFound('Session not found')
const userNotFound = () => notFound('User not found')

/** The sessions of a user, listed, and ended one by one or all at once (the session routes). */
export function createUserSessionsService(deps: {
  config: Pick<Config, 'sessionMaxAgeMs'>
  repositories: Repositories
  clock: Clock
  /** The audit log's writer: one `session.revoked` per session ended, in its transaction. */
  recordEvent: RecordEvent
}) {
  const { config, repositories, clock, recordEvent } = deps

  /** Ends the sessions `selector` picks, each recorded; the ids of those it ended. */
  function endRecorded(
    selector: Parameters<typeof endSessions>[1],
    reason: 'revoked' | 'revoked_by_admin',
    context: RequestContext | undefined,
  ): Promise<string[]> {
    const now = clock.now()
    return repositories.transaction(async (tx) => {
      const ended = await endSessions(tx, selector, reason, now)
      for (const sessionId of ended) {
        const details = { session_id: sessionId, reason }
        await recordEvent(
          tx,
          { type: 'session.revoked', userId: selector.userId, details },
          context,
        )
      }
      return ended
    })
  }

  /** The live sessions, newest first; `currentId` is the session of the token that asks. */
  async function list(userId: string, currentId: string | null): Promise<SessionView[]> {
    const now = clock.now()
    const rows = await repositories.sessions.listLive(userId, now)
    // SESSION_MAX_AGE as configured now, for a session not refreshed since it was shortened.
    return rows
      .filter((session) => isLiveSession(session, now, config))
      .map((session) => ({ session, current: session.id === currentId }))
  }

  async function requireUser(userId: string) {
    if (!(await repositories.users.findById(userId))) throw userNotFound()
  }

  return {
    /** The signed-in user's own sessions. */
    listOwn: list,

    /**
     * Ends one of the user's own sessions (the current one too: that is a logout). An id
     * that is not a live session of theirs, another user's included, is a 404: ids reveal
     * nothing.
     */
    async endOwn(userId: string, sessionId: string, context?: RequestContext): Promise<void> {
      const ended = await endRecorded({ userId, sessionId }, 'revoked', context)
      if (ended.length === 0) throw sessionNotFound()
    },

    /** Ends every session of the user but `currentId`, the one asking. */
    async endOthers(
      userId: string,
      currentId: string | null,
      context?: RequestContext,
    ): Promise<void> {
      await endRecorded({ userId, except: currentId ?? undefined }, 'revoked', context)
    },

    /** An admin's view of a user's sessions; a 404 for an unknown user. */
    async listForUser(userId: string, currentId: string | null): Promise<SessionView[]> {
      await requireUser(userId)
      return list(userId, currentId)
    },

    /** An admin ends every session of a user. */
    async endAllForUser(userId: string, context?: RequestContext): Promise<void> {
      await requireUser(userId)
      await endRecorded({ userId }, 'revoked_by_admin', context)
    },
  }
}
