import { fileURLToPath } from 'node:url'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import type pg from 'pg'
import type { Database } from './client.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))
/** Any constant works; it only has to be the same in every process. */
const MIGRATION_LOCK_KEY = 4_106_731_001

/**
 * True when the server already has every migration of the folder, judged as Drizzle's
 * migrator judges it (the newest applied `created_at` against each folder timestamp).
 * Checking first keeps the usual start free of DDL, so a role without DDL rights (the API's
 * in docker-compose.yml, where the migrate job applies them) can start.
 */
async function isUpToDate(client: pg.PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ found: string | null }>(
    `select to_regclass('drizzle.__drizzle_migrations')::text as found`,
  )
  if (!rows[0]?.found) return false
  const applied = await client.query<{ last: string | null }>(
    'select max(created_at)::text as last from drizzle.__drizzle_migrations',
  )
  const last = Number(applied.rows[0]?.last ?? -1)
  return readMigrationFiles({ migrationsFolder }).every((m) => m.folderMillis <= last)
}

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
      if (!(await isUpToDate(client))) {
        await migrateNodePg(drizzleNodePg(client), { migrationsFolder })
      }
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  } finally {
    client.release()
  }
}
