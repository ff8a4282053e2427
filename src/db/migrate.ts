import { fileURLToPath } from 'node:url'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import type { Database } from './client.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))
/** Any constant works; it only has to be the same in every process. */
const MIGRATION_LOCK_KEY = 4_106_731_001

/**
 * Applies the committed SQL migrations. On a server, a session-level advisory lock makes
 * concurrent starts (API, worker, migrate job) apply them once, one after the other.
 */
export async function runMigrations(database: Database): Promise<void> {
  if (database.pool === null) {
    const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator')
    await migratePglite(database.db as unknown as PgliteDatabase, { migrationsFolder })
    return
  }
  const client = await database.pool.connect()
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
    try {
      await migrateNodePg(drizzleNodePg(client), { migrationsFolder })
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  } finally {
    client.release()
  }
}
