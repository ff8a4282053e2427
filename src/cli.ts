import { join } from 'node:path'
import { systemClock } from './core/clock.js'
import { type Config, exitOnConfigError, loadRuntimeConfig } from './core/config.js'
import { createDatabase, type Database } from './db/client.js'
import { runMigrations } from './db/migrate.js'
import { createScheduler } from './scheduler.js'

/** What a command gets: the validated config and a migrated database, closed afterwards. */
interface CommandContext {
  config: Readonly<Config>
  database: Database
  args: string[]
}

interface Command {
  usage: string
  summary: string
  /** Resolves to the process exit code. */
  run(context: CommandContext): Promise<number>
}

/** `npm run cli -- <command> [options]`; one entry per command. */
const commands: Record<string, Command> = {
  cleanup: {
    usage: 'cleanup',
    summary: 'run one cleanup round now and print what it deleted',
    async run({ config, database }) {
      const logger = { info: () => {}, error: () => {} }
      const scheduler = createScheduler({ database, config, clock: systemClock, logger })
      const outcome = await scheduler.runOnce()
      if (outcome.status === 'skipped') {
        console.log('cleanup skipped: another process is running it right now')
        return 0
      }
      const { counts, durationMs } = outcome
      console.log(
        `cleanup: ${counts.unverifiedUsers} unverified users, ${counts.codes} codes, ` +
          `${counts.refreshTokens} refresh tokens deleted in ${durationMs} ms`,
      )
      return 0
    },
  },
}

function printUsage() {
  console.error('usage: npm run cli -- <command> [options]\n\ncommands:')
  for (const command of Object.values(commands)) {
    console.error(`  ${command.usage.padEnd(50)} ${command.summary}`)
  }
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
  const command = name === undefined ? undefined : commands[name]
  if (command === undefined) {
    if (name !== undefined) console.error(`unknown command: ${name}\n`)
    printUsage()
    return 2
  }
  let config: Readonly<Config>
  try {
    config = loadRuntimeConfig()
  } catch (error) {
    exitOnConfigError(error)
  }
  const database = await createDatabase({
    databaseUrl: config.databaseUrl,
    pglitePath: join(config.dataDir, 'pglite'),
    poolMax: 2,
  })
  try {
    await runMigrations(database)
    return await command.run({ config, database, args })
  } finally {
    await database.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  },
)
