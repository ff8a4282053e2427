/** The audit log. */
import { index, jsonb, pgTable, text, varchar } from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'

/**
 * The audit log: one row per security event, written in the transaction of the change it
 * describes, never updated, deleted only by the cleanup once older than AUDIT_RETENTION.
 * `actor_id` and `user_id` carry no foreign key: the log outlives the accounts it names.
 * `type` is checked by the application (core/audit-events.ts), not by the database, so a
 * new type needs no migration.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: varchar('id', { length: 26 }).primaryKey(),
    type: text('type').notNull(),
    at: timestamptz('at').notNull(),
    actorId: varchar('actor_id', { length: 26 }),
    userId: varchar('user_id', { length: 26 }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    // Keyset pagination, newest first, on (at, id): each filter of GET /audit-events has
    // an index that leads with it, so a page costs a short range scan at any depth.
    // The first also serves the retention purge (oldest first).
    index('audit_events_at_id_idx').on(t.at, t.id),
    index('audit_events_user_id_at_id_idx').on(t.userId, t.at, t.id),
    index('audit_events_actor_id_at_id_idx').on(t.actorId, t.at, t.id),
    index('audit_events_type_at_id_idx').on(t.type, t.at, t.id),
  ],
)

export type AuditEventRow = typeof auditEvents.$inferSelect
export type NewAuditEventRow = typeof auditEvents.$inferInsert
