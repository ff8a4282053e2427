import type { AuditDetails, AuditEventType } from '../core/audit-events.js'
import type { Clock } from '../core/clock.js'
import { decodeCursor, encodeCursor } from '../core/cursor.js'
import { newId } from '../core/ids.js'
import type { RequestContext } from '../core/request-context.js'
import type { AuditEventRow } from '../db/schema.js'
import type { Repositories } from '../repositories/index.js'

/** One security event, as a service describes it; who and where come from the request. */
interface AuditEvent {
  type: AuditEventType
  /** The account it is about; null when there is none (an unknown e-mail, a signing key). */
  userId: string | null
  /**
   * Who did it, when that is not the request's signed-in user: the user a password or code
   * has just proved (login, verification, reset), or null for an unproven caller.
   * Omitted: the request's actor (null without a request: CLI, scheduler).
   */
  actorId?: string | null
  details?: AuditDetails
}

interface ListAuditEventsInput {
  /** 20 when omitted. */
  limit?: number
  cursor?: string
  userId?: string
  actorId?: string
  type?: AuditEventType
  /** Inclusive. */
  since?: Date
  /** Exclusive. */
  until?: Date
}

export interface AuditEventPage {
  items: AuditEventRow[]
  nextCursor: string | null
}

const DEFAULT_PAGE_SIZE = 20

/** Writes an event through `tx`: the repositories of the transaction making the change. */
export type RecordEvent = (
  tx: Pick<Repositories, 'auditEvents' | 'afterCommit'>,
  event: AuditEvent,
  context?: RequestContext,
) => Promise<void>

/** The writing half alone, for services that hold no repository bundle (signing keys). */
export function createEventRecorder(
  clock: Clock,
  /** Told of each event once it is committed (the per-type metric). */
  onCommitted?: (type: AuditEventType) => void,
): RecordEvent {
  return async (tx, event, context) => {
    await tx.auditEvents.insert({
      id: newId(),
      type: event.type,
      at: clock.now(),
      actorId: event.actorId !== undefined ? event.actorId : (context?.actorId ?? null),
      userId: event.userId,
      ip: context?.clientAddress ?? null,
      userAgent: context?.userAgent ?? null,
      requestId: context?.requestId ?? null,
      details: { ...event.details },
    })
    if (onCommitted) tx.afterCommit(() => onCommitted(event.type))
  }
}

/**
 * The audit log. `record` writes through the repositories it is given, which are those of
 * the transaction making the change: the event commits with the change or not at all.
 */
export function createAuditLog(deps: {
  repositories: Repositories
  clock: Clock
  onCommitted?: (type: AuditEventType) => void
}) {
  const { repositories } = deps
  const record = createEventRecorder(deps.clock, deps.onCommitted)

  async function list(input: ListAuditEventsInput): Promise<AuditEventPage> {
    const limit = input.limit ?? DEFAULT_PAGE_SIZE
    const after = input.cursor === undefined ? null : decodeCursor(input.cursor)
    // One extra row tells whether a next page exists, without a count.
    const rows = await repositories.auditEvents.list({
      limit: limit + 1,
      after,
      userId: input.userId,
      actorId: input.actorId,
      type: input.type,
      since: input.since,
      until: input.until,
    })
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    const nextCursor =
      rows.length > limit && last ? encodeCursor({ createdAt: last.at, id: last.row.id }) : null
    return { items: page.map(({ row }) => row), nextCursor }
  }

  return {
    record,

    /** A page of events, newest first, by keyset on `(at, id)`. */
    list,

    /**
     * A page of the events about `userId`, for that user. Where another user acted (an
     * admin), that user's address and browser are not shown: they are not the account's.
     */
    async listOwn(
      userId: string,
      input: Omit<ListAuditEventsInput, 'userId' | 'actorId'>,
    ): Promise<AuditEventPage> {
      const page = await list({ ...input, userId })
      const items = page.items.map((row) =>
        row.actorId !== null && row.actorId !== userId
          ? { ...row, ip: null, userAgent: null }
          : row,
      )
      return { items, nextCursor: page.nextCursor }
    },
  }
}
