/**
 * One cleanup round in its own process, as `npm run worker` would run it beside the API:
 * prints the service's result as one JSON line. DATABASE_URL names the bench database.
 */
import { systemClock } from '../src/core/clock.js'
import { loadConfig } from '../src/core/config.js'
import { createDatabase } from '../src/db/client.js'
import { createRepositories } from '../src/repositories/index.js'
import { runCleanup } from '../src/services/cleanup.js'

const config = loadConfig({ DATABASE_URL: process.env.DATABASE_URL })
const database = await createDatabase({ databaseUrl: config.databaseUrl, pglitePath: null })
try {
  const result = await runCleanup({
    repositories: createRepositories(database.db),
    config,
    clock: systemClock,
  })
  process.stdout.write(`${JSON.stringify(result)}\n`)
} finally {
  await database.close()
}
