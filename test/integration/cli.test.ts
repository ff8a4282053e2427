import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { verifyPassword } from '../../src/core/security.js'
import { createDatabase, type Database } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { totpFactors } from '../../src/db/schema.js'
import { createSessionsRepository } from '../../src/repositories/sessions.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { makeUser } from '../helpers/factories.js'

/**
 * The real entry points as child processes: against this file's database on the server
 * (DATABASE_URL), or against an embedded database in a temporary DATA_DIR.
 */
let dataDir: string
let server: TestDatabase | null = null

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'coffee-cli-'))
  if (process.env.TEST_DATABASE_URL) server = await createTestDatabase()
}, 60_000)
afterAll(async () => {
  await server?.drop()
  rmSync(dataDir, { recursive: true, force: true })
})

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    BCRYPT_ROUNDS: '4',
    DATA_DIR: dataDir,
    RUN_SCHEDULER: 'false',
    ...(server?.url ? { DATABASE_URL: server.url } : {}),
    ...extra,
  }
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      { env: childEnv(), timeout: 150_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** The database the child wrote to; PGlite must be closed before the next child opens it. */
async function withDatabase<T>(use: (database: Database) => Promise<T>): Promise<T> {
  const database = server
    ? server.database
    : await createDatabase({ databaseUrl: null, pglitePath: join(dataDir, 'pglite') })
  try {
    await runMigrations(database)
    return await use(database)
  } finally {
    if (!server) await database.close()
  }
}

const findUser = (email: string) =>
  withDatabase((database) => createUsersRepository(database.db).findByEmail(email))

// Each child starts Node, tsx and (on PGlite) an embedded database: slow on a busy machine.
const SLOW = { timeout: 180_000 }

describe('npm run cli -- create-admin', SLOW, () => {
  it('prints help, and refuses bad usage and bad input before opening a database', async () => {
    const runs = await Promise.all([
      cli('--help'),
      cli('create-admin', '--help'),
      cli('create-admin', '--email', 'boss@example.com'),
      cli('create-admin', '--email', 'boss@example.com', '--password', 'x', '--role', 'root'),
      cli('make-coffee'),
      cli('create-admin', '--email', 'not-an-email', '--password', 'a long passphrase'),
      cli('create-admin', '--email', 'boss@example.com', '--password', 'password123'),
      cli('create-admin', '--email', 'boss@example.com', '--password', 'short'),
    ])
    const [help, commandHelp, missing, unknownOption, unknownCommand, invalid, weak, short] = runs
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('create-admin --email E --password P')
    expect(commandHelp.code).toBe(0)
    expect(commandHelp.stdout).toContain('usage: npm run cli -- create-admin --email E')
    expect(commandHelp.stdout).toContain('promoted to admin')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error: create-admin needs --email and --password')
    expect(unknownOption.code).toBe(1)
    expect(unknownOption.stderr).toContain("Unknown option '--role'")
    expect(unknownCommand.code).toBe(2)
    expect(unknownCommand.stderr).toContain('unknown command: make-coffee')
    expect(invalid.code).toBe(1)
    expect(invalid.stderr).toContain('error: --email: Not a valid e-mail address\n')
    expect(weak.code).toBe(1)
    expect(weak.stderr).toContain(
      'error: --password: Password is too common; choose a less guessable one\n',
    )
    expect(short.code).toBe(1)
    expect(short.stderr).toContain('error: --password: Password must be 8 to 128 characters\n')
    // Refused before opening a database: the embedded one was never created.
    expect(existsSync(join(dataDir, 'pglite'))).toBe(false)
  })

  it('creates a verified admin, then updates its password when run again', async () => {
    const created = await cli(
      'create-admin',
      '--email',
      ' Boss@Example.com ',
      '--password',
      'first long passphrase',
    )
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/^admin created: boss@example\.com \([0-9A-Z]{26}\)\n$/)
    const admin = await findUser('boss@example.com')
    expect(admin).toMatchObject({ role: 'admin', isVerified: true, isActive: true })
    expect(await verifyPassword('first long passphrase', admin?.passwordHash ?? '')).toBe(true)

    const again = await cli(
      'create-admin',
      '--email',
      'boss@example.com',
      '--password',
      'second long passphrase',
    )
    expect(again.code).toBe(0)
    expect(again.stdout).toContain(`admin updated: boss@example.com (${admin?.id})`)
    const updated = await findUser('boss@example.com')
    expect(await verifyPassword('second long passphrase', updated?.passwordHash ?? '')).toBe(true)
  })

  it('promotes and verifies an existing user', async () => {
    const user = await withDatabase((database) =>
      makeUser(database.db, { isVerified: false, verifiedAt: null }),
    )
    const run = await cli(
      'create-admin',
      '--email',
      user.email,
      '--password',
      'promoted long passphrase',
    )
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`admin promoted: ${user.email} (${user.id})`)
    expect(await findUser(user.email)).toMatchObject({
      id: user.id,
      role: 'admin',
      isVerified: true,
    })
  })
})

describe('npm start with FIRST_ADMIN_EMAIL', SLOW, () => {
  it('creates the first admin at start, logs its e-mail but never the password', async () => {
    // A database of its own: the create-admin tests above already made an admin.
    await server?.drop()
    server = process.env.TEST_DATABASE_URL ? await createTestDatabase() : null
    rmSync(dataDir, { recursive: true, force: true })
    const password = 'server start passphrase'
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: childEnv({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        FIRST_ADMIN_EMAIL: 'first@example.com',
        FIRST_ADMIN_PASSWORD: password,
      }),
    })
    const output = await readUntil(child, /Coffee Shop API ready/)
    child.kill('SIGTERM')
    const exitCode = await new Promise((resolve) => child.once('exit', resolve))
    expect(output).toContain('first admin created: first@example.com')
    expect(output).not.toContain(password)
    expect(exitCode).toBe(0)
    expect(await findUser('first@example.com')).toMatchObject({ role: 'admin', isVerified: true })
  })
})

function readUntil(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (pattern.test(output)) resolve(output)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${output}`)))
  })
}

describe('npm run cli -- mfa-reset', SLOW, () => {
  it("turns a user's MFA off and ends their sessions; an unknown e-mail is an error", async () => {
    const seeded = await withDatabase(async (database) => {
      const user = await makeUser(database.db, { role: 'admin', mfaEnabled: true })
      await database.db.insert(totpFactors).values({
        userId: user.id,
        secret: 'v1.sealed-elsewhere',
        confirmedAt: new Date(),
      })
      const now = new Date()
      await createSessionsRepository(database.db).insert({
        id: newId(),
        userId: user.id,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: new Date(now.getTime() + 3_600_000),
      })
      return user
    })
    // One at a time: two children cannot open one embedded database together.
    const reset = await cli('mfa-reset', '--email', seeded.email.toUpperCase())
    const unknown = await cli('mfa-reset', '--email', 'nobody-here@example.com')
    const missing = await cli('mfa-reset')
    expect(reset.code).toBe(0)
    expect(reset.stdout).toBe(
      `two-factor authentication off and sessions ended: ${seeded.email} (${seeded.id})\n`,
    )
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('error: no user with the e-mail nobody-here@example.com')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error: mfa-reset needs --email')
    await withDatabase(async (database) => {
      const user = await createUsersRepository(database.db).findById(seeded.id)
      expect(user?.mfaEnabled).toBe(false)
      const factors = await database.db
        .select()
        .from(totpFactors)
        .where(eq(totpFactors.userId, seeded.id))
      expect(factors).toEqual([])
      const sessions = await createSessionsRepository(database.db).listLive(seeded.id, new Date())
      expect(sessions).toEqual([])
    })
  })
})
