import { join } from 'node:path'
import { exitOnConfigError, loadConfig, readEnvironment } from '../core/config.js'
import { createDatabase } from './client.js'
import { runMigrations } from './migrate.js'

/** `npm run db:migrate`: applies migrations to DATABASE_URL, or the embedded database. */
async function main() {
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig(readEnvironment())
  } catch (error) {
    exitOnConfigError(error)
  }
  const database = await createDatabase({
    databaseUrl: config.databaseUrl,
    pglitePath: join(config.dataDir, 'pglite'),
  })
  try {
    await runMigrations(database)
    console.log(
      `migrations applied (${database.kind === 'pglite' ? join(config.dataDir, 'pglite') : 'DATABASE_URL'})`,
    )
  } finally {
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
