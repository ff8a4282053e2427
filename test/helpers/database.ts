import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { inject } from 'vitest'
import { createDatabase, type Database } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'

/** Set by vitest.config.ts for the `postgres` project; unset means PGlite in memory. */
export const testServerUrl = process.env.TEST_DATABASE_URL ?? null

export interface TestDatabase {
  database: Database
  /** The URL of this test's own database on the server (null on PGlite). */
  url: string | null
  drop(): Promise<void>
}

/**
 * A fresh, migrated database: PGlite in memory, or a new database on the test server.
 * `migrated: false` leaves it empty (no template either), for migration tests.
 */
export async function createTestDatabase(
  options: { poolMax?: number; onQuery?: (query: string) => void; migrated?: boolean } = {},
): Promise<TestDatabase> {
  const migrated = options.migrated ?? true
  if (testServerUrl === null) {
    const templatePath = migrated ? inject('pgliteTemplate') : undefined
    const pgliteTemplate = templatePath ? new Blob([await readFile(templatePath)]) : undefined
    const database = await createDatabase({
      databaseUrl: null,
      pglitePath: null,
      pgliteTemplate,
      onQuery: options.onQuery,
    })
    if (migrated) await runMigrations(database) // a no-op on the template; applies anything newer
    return { database, url: null, drop: () => database.close() }
  }
  const name = `coffee_test_${randomBytes(6).toString('hex')}`
  await adminQuery(`create database ${name}`)
  const url = new URL(testServerUrl)
  url.pathname = `/${name}`
  const database = await createDatabase({
    databaseUrl: url.toString(),
    pglitePath: null,
    poolMax: options.poolMax,
    onQuery: options.onQuery,
  })
  if (migrated) await runMigrations(database)
  return {
    database,
    url: url.toString(),
    async drop() {
      await database.close()
      await adminQuery(`drop database if exists ${name} with (force)`)
    },
  }
}

async function adminQuery(statement: string) {
  const client = new pg.Client({ connectionString: testServerUrl ?? undefined })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}
