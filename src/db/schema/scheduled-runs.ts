/** The scheduler's shared record of the jobs it ran. */
import { pgTable, text } from 'drizzle-orm/pg-core'
import { timestamptz } from './columns.js'

/**
 * When each scheduled job last started, in the database's time: every process runs the
 * cleanup on its own timer, and a round starts only if no process started one within the
 * interval, so several instances and workers clean up once per interval in total.
 */
export const scheduledRuns = pgTable('scheduled_runs', {
  name: text('name').primaryKey(),
  lastStartedAt: timestamptz('last_started_at').notNull(),
})
