import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createDatabase } from '../src/db/client.js'
import { runMigrations } from '../src/db/migrate.js'

export interface BenchDatabase {
  name: string
  url: string
  /** A small pool for seeding and measurements by SQL. */
  pool: pg.Pool
  drop(): Promise<void>
}

async function adminQuery(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

/** A fresh database on the server, migrated with the app's own migrations. */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `coffee_bench_${randomBytes(5).toString('hex')}`
  await adminQuery(serverUrl, `create database ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const dropDatabase = () => adminQuery(serverUrl, `drop database if exists ${name} with (force)`)
  try {
    const database = await createDatabase({ databaseUrl: url.toString(), pglitePath: null })
    try {
      await runMigrations(database)
    } finally {
      await database.close()
    }
  } catch (error) {
    await dropDatabase()
    throw error
  }
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 })
  let dropped = false
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      if (dropped) return
      dropped = true
      await pool.end().catch(() => {})
      await dropDatabase()
    },
  }
}
