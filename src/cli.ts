import { parseArgs } from 'node:util'
import { KEYS_HELP, KEYS_USAGE, parseKeysCommand, runKeysCommand } from './cli-keys.js'
import {
  type Context,
  createCleanupScheduler,
  databaseLabel,
  openContext,
  openMailer,
  stderrLog,
} from './composition.js'
import {
  checkEmail,
  checkPassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
} from './core/credentials.js'
import { AppError } from './core/errors.js'
import { noMail } from './mailer.js'
import { runMain } from './runtime.js'
import { createKeyServices, createServices } from './services/index.js'

interface Command {
  usage: string
  summary: string
  /** Shown by `<command> --help`, after the usage line. */
  help?: string
  /** Checks the arguments before the database is opened; returns an error message. */
  check?(args: string[]): string | null
  /** False when the command never signs or seals: no SECRET_KEY is generated for it. */
  secretKey?: boolean
  /** Runs on an open context (migrated database, closed afterwards); resolves to the exit code. */
  run(context: Context, args: string[]): Promise<number>
}

const createAdminOptions = {
  email: { type: 'string' },
  password: { type: 'string' },
} as const

/** The `create-admin` options, or an error message; checked before any database opens. */
function parseCreateAdmin(args: string[]): { email: string; password: string } | string {
  try {
    const { values } = parseArgs({ args, options: createAdminOptions, strict: true })
    if (values.email === undefined || values.password === undefined) {
      return 'create-admin needs --email and --password'
    }
    const emailProblem = checkEmail(values.email)
    if (emailProblem) return `--email: ${emailProblem.msg}`
    const passwordProblem = checkPassword(values.password)
    if (passwordProblem) return `--password: ${passwordProblem.msg}`
    return { email: values.email, password: values.password }
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** The `mfa-reset` e-mail, or an error message; checked before any database opens. */
function parseMfaReset(args: string[]): string | { email: string } {
  try {
    const { values } = parseArgs({ args, options: { email: { type: 'string' } }, strict: true })
    if (values.email === undefined) return 'mfa-reset needs --email'
    const emailProblem = checkEmail(values.email)
    if (emailProblem) return `--email: ${emailProblem.msg}`
    return { email: values.email }
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** `npm run cli -- <command> [options]`; one entry per command. */
const commands: Record<string, Command> = {
  migrate: {
    usage: 'migrate',
    summary: 'apply the database migrations (DATABASE_URL, or the embedded database)',
    help:
      'Applies the migrations the database does not have yet; running it again changes\n' +
      'nothing. Safe while other processes start: they take turns under a lock.\n' +
      '`npm run db:migrate` runs this command.',
    secretKey: false,
    async run(context) {
      // Opening the context applied them.
      const where = context.database.kind === 'pglite' ? databaseLabel(context) : 'DATABASE_URL'
      console.log(`migrations applied (${where})`)
      return 0
    },
  },
  'create-admin': {
    usage: 'create-admin --email E --password P',
    summary: 'create a verified admin, or promote the user with that e-mail',
    help:
      'Creates a verified, active admin with this e-mail and password. If a user with this\n' +
      'e-mail exists, they are promoted to admin, verified, reactivated and given this\n' +
      'password; their existing sessions are logged out. The password must be ' +
      `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH}\ncharacters and not a common password.`,
    check(args) {
      const parsed = parseCreateAdmin(args)
      return typeof parsed === 'string' ? parsed : null
    },
    async run(context, args) {
      const parsed = parseCreateAdmin(args)
      if (typeof parsed === 'string') throw new Error(parsed)
      const services = createServices({ ...context, mailer: noMail })
      const { user, action } = await services.users.createOrPromoteAdmin(
        parsed.email,
        parsed.password,
      )
      console.log(`admin ${action}: ${user.email} (${user.id})`)
      return 0
    },
  },
  'mfa-reset': {
    usage: 'mfa-reset --email E',
    summary: "turn off a user's two-factor authentication (a lost device)",
    help:
      'Turns two-factor authentication off for the user with this e-mail, as an admin can with\n' +
      'DELETE /users/{id}/mfa: for when the only admin lost their authenticator and recovery\n' +
      'codes. All their sessions end, and they are told by e-mail. They log in with their\n' +
      'password alone afterwards, and should enrol again.',
    check(args) {
      const parsed = parseMfaReset(args)
      return typeof parsed === 'string' ? parsed : null
    },
    async run(context, args) {
      const parsed = parseMfaReset(args)
      if (typeof parsed === 'string') throw new Error(parsed)
      const mailer = openMailer(context)
      try {
        const services = createServices({ ...context, mailer })
        const user = await services.mfa.resetByEmail(parsed.email)
        console.log(`two-factor authentication off and sessions ended: ${user.email} (${user.id})`)
        return 0
      } catch (error) {
        if (error instanceof AppError && error.status === 404) {
          console.error(`error: no user with the e-mail ${parsed.email}`)
          return 1
        }
        throw error
      } finally {
        await mailer.close()
      }
    },
  },
  keys: {
    usage: KEYS_USAGE,
    summary: 'list, rotate or revoke the keys that sign access tokens',
    help: KEYS_HELP,
    check(args) {
      const parsed = parseKeysCommand(args)
      return typeof parsed === 'string' ? parsed : null
    },
    async run(context, args) {
      const parsed = parseKeysCommand(args)
      if (typeof parsed === 'string') throw new Error(parsed)
      // The service logs each change (to stderr, with the other log lines).
      return runKeysCommand(parsed, {
        config: context.config,
        signingKeys: createKeyServices(context).signingKeys,
        print: (line) => console.log(line),
        printError: (line) => console.error(line),
      })
    },
  },
  cleanup: {
    usage: 'cleanup',
    summary: 'run one cleanup round now and print what it deleted',
    async run(context) {
      const outcome = await createCleanupScheduler(context).runOnce()
      if (outcome.status === 'skipped') {
        console.log('cleanup skipped: another process is running it right now')
        return 0
      }
      const { counts, durationMs } = outcome
      console.log(
        `cleanup: ${counts.unverifiedUsers} unverified users, ${counts.codes} codes, ` +
          `${counts.codeSends} code send records, ${counts.sessions} sessions, ` +
          `${counts.refreshTokens} refresh tokens, ${counts.auditEvents} audit events, ` +
          `${counts.mfaChallenges} MFA challenges, ${counts.mfaEnrolments} MFA enrolments ` +
          `deleted in ${durationMs} ms`,
      )
      return 0
    },
  },
}

function printUsage(print: (text: string) => void = console.error) {
  print('usage: npm run cli -- <command> [options]\n\ncommands:')
  for (const command of Object.values(commands)) {
    print(`  ${command.usage.padEnd(50)} ${command.summary}`)
  }
  print('\n`npm run cli -- <command> --help` describes one command.')
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h')

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
  if (name === 'help' || (name !== undefined && wantsHelp([name]))) {
    printUsage(console.log)
    return 0
  }
  const command = name === undefined ? undefined : commands[name]
  if (command === undefined) {
    if (name !== undefined) console.error(`unknown command: ${name}\n`)
    printUsage()
    return 2
  }
  if (wantsHelp(args)) {
    console.log(`usage: npm run cli -- ${command.usage}\n\n${command.help ?? command.summary}`)
    return 0
  }
  const problem = command.check?.(args) ?? null
  if (problem !== null) {
    console.error(`error: ${problem}\nusage: npm run cli -- ${command.usage}`)
    return 1
  }
  const context = await openContext({
    poolMax: 2,
    logDestination: stderrLog(),
    secretKey: command.secretKey,
  })
  try {
    return await command.run(context, args)
  } finally {
    await context.database.close()
  }
}

runMain(() => main(process.argv.slice(2)))
