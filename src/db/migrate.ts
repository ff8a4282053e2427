import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import type { Database, Db } from './client.js'
import { withSessionLock } from './locks.js'

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

/**
 * True when the server already has every migration of the folder, judged as Drizzle's
 * migrator judges it (the newest applied `created_at` against each folder timestamp).
 * Checking first keeps the usual start free of DDL, so a role without DDL rights (the API's
 * in docker-compose.yml, where the migrate job applies them) can start.
 */
async function isUpToDate(db: Db): Promise<boolean> {
  const found = await rowsOf<{ found: string | null }>(
    db.execute(sql`select to_regclass('drizzle.__drizzle_migrations')::text as found`),
  )
  if (!found[0]?.found) return false
  const applied = await rowsOf<{ last: string | null }>(
    db.execute(sql`select max(created_at)::text as last from drizzle.__drizzle_migrations`),
  )
  const last = Number(applied[0]?.last ?? -1)
  return readMigrationFiles({ migrationsFolder }).every((m) => m.folderMillis <= last)
}

/** Both drivers answer `execute` with `{ rows }`. */
const rowsOf = async <T>(result: Promise<unknown>) => ((await result) as { rows: T[] }).rows

/**
 * Applies the committed SQL migrations, under the migrations lock: concurrent starts (API,
 * worker, migrate job) apply them once, one after the other.
 */
export async function runMigrations(database: Database): Promise<void> {
  await withSessionLock(database, 'migrations', { wait: true }, async (db) => {
    if (database.pool === null) {
      const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator')
      await migratePglite(db as unknown as PgliteDatabase, { migrationsFolder })
    } else if (!(await isUpToDate(db))) {
      await migrateNodePg(db as unknown as NodePgDatabase, { migrationsFolder })
    }
  })
}
