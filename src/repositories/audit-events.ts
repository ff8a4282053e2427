import { and, desc, eq, getTableColumns, gte, lt, type SQL, sql } from 'drizzle-orm'
import type { Cursor } from '../core/cursor.js'
import type { Db } from '../db/client.js'
import { type AuditEventRow, auditEvents, type NewAuditEventRow } from '../db/schema.js'

/** Filters and keyset position of an audit-log page; `limit` is the number of rows to read. */
interface AuditEventFilter {
  limit: number
  after: Cursor | null
  userId?: string
  actorId?: string
  type?: string
  /** Inclusive. */
  since?: Date
  /** Exclusive. */
  until?: Date
}

// PostgreSQL keeps microseconds and a Date only milliseconds: the cursor needs the former.
const atText = sql<string>`to_char(${auditEvents.at} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

function listConditions(filter: AuditEventFilter): SQL | undefined {
  const conditions: SQL[] = []
  if (filter.after) {
    // A row comparison, so the (…, at, id) indexes serve it for any page depth.
    conditions.push(
      sql`(${auditEvents.at}, ${auditEvents.id}) < (${filter.after.createdAt}::timestamptz, ${filter.after.id})`,
    )
  }
  if (filter.userId !== undefined) conditions.push(eq(auditEvents.userId, filter.userId))
  if (filter.actorId !== undefined) conditions.push(eq(auditEvents.actorId, filter.actorId))
  if (filter.type !== undefined) conditions.push(eq(auditEvents.type, filter.type))
  if (filter.since !== undefined) conditions.push(gte(auditEvents.at, filter.since))
  if (filter.until !== undefined) conditions.push(lt(auditEvents.at, filter.until))
  return and(...conditions)
}

/** The append-only audit log: rows are inserted and read, never updated (a trigger refuses it). */
export function createAuditEventsRepository(db: Db) {
  return {
    async insert(values: NewAuditEventRow): Promise<AuditEventRow> {
      const [row] = await db.insert(auditEvents).values(values).returning()
      if (!row) throw new Error('insert returned no row')
      return row
    },

    /** One page, newest first, each row with its keyset position for the next cursor. */
    async list(filter: AuditEventFilter): Promise<{ row: AuditEventRow; at: string }[]> {
      const rows = await db
        .select({ ...getTableColumns(auditEvents), cursorAt: atText })
        .from(auditEvents)
        .where(listConditions(filter))
        .orderBy(desc(auditEvents.at), desc(auditEvents.id))
        .limit(filter.limit)
      return rows.map(({ cursorAt, ...row }) => ({ row, at: cursorAt }))
    },
  }
}

export type AuditEventsRepository = ReturnType<typeof createAuditEventsRepository>
