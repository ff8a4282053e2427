import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { createDatabase } from '../../src/db/client.js'
import { TEST_SECRET } from '../helpers/app.js'
import { testServerUrl } from '../helpers/database.js'

/*
 * Every entry point as a child process: the migrate command on an empty database (a new
 * database on the server, or a new embedded one), and a bad setting or an unreachable
 * database through each of them.
 */
const SLOW = { timeout: 180_000 }
const dataDirs: string[] = []
afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coffee-entry-'))
  dataDirs.push(dir)
  return dir
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `command` to its end with only these variables (no `.env`, no test defaults). */
function run(command: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ...env },
        timeout: 150_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

type Invocation = [command: string, args: string[]]
const tsx = (script: string, ...args: string[]): Invocation => [
  process.execPath,
  ['--import', 'tsx', script, ...args],
]

const SERVER = tsx('src/server.ts')
const MIGRATE = tsx('src/cli.ts', 'migrate')
const ENTRY_POINTS: Record<string, Invocation> = {
  'npm start (src/server.ts)': SERVER,
  'npm run worker': tsx('src/worker.ts'),
  'cli migrate': MIGRATE,
  'cli create-admin': tsx(
    'src/cli.ts',
    'create-admin',
    '--email',
    'boss@example.com',
    '--password',
    'a long passphrase',
  ),
  'cli cleanup': tsx('src/cli.ts', 'cleanup'),
  'npm run db:migrate': ['npm', ['run', '--silent', 'db:migrate']],
}

/** The migrations of drizzle/, which a migrated database has all recorded once. */
const migrationCount = (
  JSON.parse(readFileSync('drizzle/meta/_journal.json', 'utf8')) as { entries: unknown[] }
).entries.length

interface EmptyDatabase {
  dataDir: string
  env: Record<string, string>
  /** What `migrate` names it by. */
  label: string
  query(sql: string): Promise<Record<string, unknown>[]>
  drop(): Promise<void>
}

/** An empty database a child process can open, and a way to look inside it afterwards. */
async function emptyDatabase(): Promise<EmptyDatabase> {
  if (testServerUrl === null) {
    const dataDir = freshDataDir()
    return {
      dataDir,
      env: { DATA_DIR: dataDir },
      label: join(dataDir, 'pglite'),
      async query(sql: string) {
        const database = await createDatabase({
          databaseUrl: null,
          pglitePath: join(dataDir, 'pglite'),
        })
        try {
          const result = (await database.db.execute(sql)) as { rows: Record<string, unknown>[] }
          return result.rows
        } finally {
          await database.close()
        }
      },
      drop: async () => {},
    }
  }
  const name = `coffee_migrate_${randomBytes(6).toString('hex')}`
  const admin = async (sql: string, url = testServerUrl as string) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return (await client.query(sql)).rows as Record<string, unknown>[]
    } finally {
      await client.end()
    }
  }
  await admin(`create database ${name}`)
  const url = new URL(testServerUrl)
  url.pathname = `/${name}`
  const dataDir = freshDataDir()
  return {
    dataDir,
    env: { DATABASE_URL: url.toString(), DATA_DIR: dataDir },
    label: 'DATABASE_URL',
    query: (sql: string) => admin(sql, url.toString()),
    drop: () => admin(`drop database if exists ${name} with (force)`).then(() => {}),
  }
}

describe('the migrate command', SLOW, () => {
  it('migrates an empty database, then changes nothing when run again', async () => {
    const target = await emptyDatabase()
    try {
      // No SECRET_KEY: migrating signs nothing, so none is generated for it.
      const env = { ...target.env, LOG_LEVEL: 'info' }
      const first = await run(...MIGRATE, env)
      expect(first).toEqual({
        code: 0,
        stdout: `migrations applied (${target.label})\n`,
        stderr: '',
      })
      expect(existsSync(join(target.dataDir, 'secret_key'))).toBe(false)

      const second = await run('npm', ['run', '--silent', 'db:migrate'], env)
      expect(second).toEqual(first)
      const applied = await target.query(
        'select count(*)::int as n from drizzle.__drizzle_migrations',
      )
      expect(applied).toEqual([{ n: migrationCount }])
      const tables = await target.query(
        `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
      )
      expect(tables.map((row) => row.table_name)).toContain('users')
    } finally {
      await target.drop()
    }
  })
})

// Refused before any database is opened: the same answer whichever project runs it.
describe('a failed start, through every entry point', SLOW, () => {
  it('a bad setting: one line naming the variable, exit code 1', async () => {
    const dataDir = freshDataDir()
    const names = Object.keys(ENTRY_POINTS)
    const runs = await Promise.all(
      Object.values(ENTRY_POINTS).map(([command, args]) =>
        run(command, args, {
          DATA_DIR: dataDir,
          SECRET_KEY: TEST_SECRET,
          CLEANUP_INTERVAL: 'soon',
        }),
      ),
    )
    const line =
      'config error: CLEANUP_INTERVAL: must be a duration like 30s, 15m, 12h or 2d (got "soon")\n'
    for (const [index, result] of runs.entries()) {
      expect(result, names[index]).toEqual({ code: 1, stdout: '', stderr: line })
    }
    // Stopped before opening anything.
    expect(readdirSync(dataDir)).toEqual([])
  })

  it('an unreachable database: one line saying so, exit code 1', async () => {
    const runs = await Promise.all(
      [SERVER, MIGRATE].map(([command, args]) =>
        run(command, args, {
          DATA_DIR: freshDataDir(),
          SECRET_KEY: TEST_SECRET,
          LOG_LEVEL: 'silent',
          // Port 1 on the loopback: nothing listens there, so the connection is refused.
          DATABASE_URL: 'postgres://postgres@127.0.0.1:1/coffee',
        }),
      ),
    )
    for (const result of runs) {
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: 'error: database: connect ECONNREFUSED 127.0.0.1:1\n',
      })
    }
  })
})
