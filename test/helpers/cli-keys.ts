import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { createDatabase } from '../../src/db/client.js'
import { TEST_SECRET } from './app.js'
import { kidIn, rows } from './key-instances.js'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Where the CLI works: a PostgreSQL server's database, else the embedded one in `dataDir`. */
export interface CliTarget {
  dataDir: string
  databaseUrl: string | null
}

/** `npm run cli -- …` as a child process, with only the environment given here. */
export function cli(target: CliTarget, args: string[], env: Record<string, string> = {}) {
  return new Promise<Run>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
          DATA_DIR: target.dataDir,
          SECRET_KEY: TEST_SECRET,
          ...(target.databaseUrl ? { DATABASE_URL: target.databaseUrl } : {}),
          ...env,
        },
        timeout: 150_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** The keys as stored, by kid; the database is opened only between two CLI runs. */
export async function storedKeys(target: CliTarget) {
  const database = await createDatabase({
    databaseUrl: target.databaseUrl,
    pglitePath: target.databaseUrl ? null : join(target.dataDir, 'pglite'),
  })
  try {
    return await rows(database)
  } finally {
    await database.close()
  }
}

/** The kid of the key in `state`, '' when there is none. */
export const kidOf = (state: string, table: Awaited<ReturnType<typeof rows>>) =>
  kidIn(state, table) ?? ''

/** The rows of `keys list`: header first, then one per key. */
export const listed = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => line.split(/\s{2,}/))

/** The JSON log records a run wrote to stderr. */
export const logged = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
