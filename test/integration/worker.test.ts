import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { createDatabase, type Db } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { type NewUserRow, refreshTokens, sessions, users } from '../../src/db/schema.js'
import { TEST_SECRET } from '../helpers/app.js'
import { createTestDatabase, testServerUrl } from '../helpers/database.js'
import { spawnLogged } from '../helpers/process.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const HOUR = 3_600_000
const run = promisify(execFile)
/** Child processes start slowly (tsx, and PGlite opening its directory), far slower under load. */
const SLOW = 180_000

/**
 * A database another process can open: this test's own database on the server, or an
 * embedded one in a temporary directory (PGlite allows one process at a time, so the test
 * opens it only while the child is not running).
 */
interface Target {
  env: Record<string, string>
  withDb<T>(work: (db: Db) => Promise<T>): Promise<T>
  drop(): Promise<void>
}

async function createTarget(): Promise<Target> {
  if (testServerUrl !== null) {
    const testDb = await createTestDatabase()
    return {
      env: { DATABASE_URL: testDb.url ?? '' },
      withDb: (work) => work(testDb.database.db),
      drop: () => testDb.drop(),
    }
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'coffee-worker-'))
  return {
    env: { DATABASE_URL: '', DATA_DIR: dataDir },
    async withDb(work) {
      const database = await createDatabase({
        databaseUrl: null,
        pglitePath: join(dataDir, 'pglite'),
      })
      try {
        await runMigrations(database)
        return await work(database.db)
      } finally {
        await database.close()
      }
    },
    drop: () => rm(dataDir, { recursive: true, force: true }),
  }
}

const baseEnv = (target: Target): NodeJS.ProcessEnv => ({
  ...process.env,
  NODE_ENV: 'test',
  SECRET_KEY: TEST_SECRET,
  LOG_LEVEL: 'info',
  SMTP_URL: '',
  REDIS_URL: '',
  CLEANUP_INTERVAL: '1s',
  UNVERIFIED_USER_TTL: '1s',
  ...target.env,
})

/** Each test starts from an empty users table (the database is shared by the file). */
async function reset(db: Db): Promise<void> {
  await db.delete(users)
}

async function seed(db: Db, overrides: Partial<NewUserRow> = {}): Promise<string> {
  const id = newId()
  await db.insert(users).values({
    id,
    email: `${id.toLowerCase()}@example.com`,
    passwordHash: 'not-a-real-hash',
    createdAt: new Date(Date.now() - HOUR),
    ...overrides,
  })
  return id
}

async function userIds(db: Db): Promise<string[]> {
  const rows = await db.select({ id: users.id }).from(users).orderBy(users.id)
  return rows.map((row) => row.id)
}

/** Starts an entry point (killed after the test) and collects its JSON log lines. */
function start(script: string, env: NodeJS.ProcessEnv) {
  const child = spawnLogged(process.execPath, ['--import', 'tsx', script], env)
  children.push(child)
  return child
}

const children: ReturnType<typeof spawnLogged>[] = []
// One database for the file: creating an on-disk PGlite directory costs seconds each time.
let target: Target
beforeAll(async () => {
  target = await createTarget()
}, SLOW)
afterAll(() => target.drop())
afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.kill()))
})

const isRound = (line: Record<string, unknown>) => typeof line.durationMs === 'number'

describe('npm run worker', () => {
  it(
    'deletes a stale account, logs the round, and exits 0 on SIGTERM',
    async () => {
      const [stale, verified] = await target.withDb(async (db) => [
        await reset(db).then(() => seed(db)),
        await seed(db, { isVerified: true, verifiedAt: new Date() }),
      ])

      const worker = start('src/worker.ts', baseEnv(target))
      const round = await worker.waitForLog(
        (line) => isRound(line) && line.unverifiedUsers === 1,
        SLOW,
      )
      expect(round).toMatchObject({
        codes: 0,
        codeSends: 0,
        sessions: 0,
        refreshTokens: 0,
        interrupted: false,
      })
      expect(round?.msg).toMatch(
        /^cleanup: 1 unverified users, 0 codes, 0 code send records, 0 sessions, 0 refresh tokens, 0 audit events, 0 MFA challenges, 0 MFA enrolments deleted/,
      )

      worker.child.kill('SIGTERM')
      expect((await worker.exited).code).toBe(0)
      expect(worker.records.some((line) => line.msg === 'stopped')).toBe(true)
      const remaining = await target.withDb(userIds)
      expect(remaining).toEqual([verified])
      expect(remaining).not.toContain(stale)
    },
    SLOW,
  )
})

describe('npm run cli -- cleanup', () => {
  it(
    'runs one round and prints the counts',
    async () => {
      await target.withDb(async (db) => {
        await reset(db)
        await seed(db)
        const owner = await seed(db, { isVerified: true, verifiedAt: new Date() })
        const expiresAt = new Date(Date.now() - 1_000)
        const familyId = newId()
        await db
          .insert(sessions)
          .values({ id: familyId, userId: owner, lastUsedAt: expiresAt, expiresAt })
        await db.insert(refreshTokens).values({
          id: newId(),
          userId: owner,
          familyId,
          tokenHash: `hash-${newId()}`,
          expiresAt,
        })
      })

      const { stdout } = await run('npm', ['run', '--silent', 'cli', '--', 'cleanup'], {
        cwd: ROOT,
        env: baseEnv(target),
      })
      expect(stdout).toMatch(
        /^cleanup: 1 unverified users, 0 codes, 0 code send records, 1 sessions, 0 refresh tokens, 0 audit events, 0 MFA challenges, 0 MFA enrolments deleted in \d+ ms\n$/,
      )
      await target.withDb(async (db) => {
        expect(await userIds(db)).toHaveLength(1)
        expect(await db.select().from(refreshTokens)).toEqual([])
      })
    },
    SLOW,
  )
})

describe('npm start', () => {
  it(
    'runs the cleanup inside the API process when RUN_SCHEDULER is not false',
    async () => {
      await target.withDb(async (db) => {
        await reset(db)
        await seed(db)
      })

      const server = start('src/server.ts', {
        ...baseEnv(target),
        PORT: '0',
        HOST: '127.0.0.1',
        RUN_SCHEDULER: 'true',
      })
      await server.waitForLog((line) => isRound(line) && line.unverifiedUsers === 1, SLOW)
      server.child.kill('SIGTERM')
      expect((await server.exited).code).toBe(0)
      expect(await target.withDb(userIds)).toEqual([])
    },
    SLOW,
  )
})
