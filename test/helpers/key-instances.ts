import { afterEach, expect } from 'vitest'
import type { Env } from '../../src/core/config.js'
import { createDatabase, type Database } from '../../src/db/client.js'
import { signingKeys } from '../../src/db/schema.js'
import { createInstance, type TestInstance } from './app.js'
import { PASSWORD } from './auth-flow.js'
import { createTestDatabase } from './database.js'

/**
 * Instances of the app on one database, as the signing-key tests run them: each reloads
 * its keys only once an hour (KEY_REFRESH_INTERVAL=1h), so a change another instance sees
 * within seconds was pushed (LISTEN/NOTIFY). Importing this module registers the
 * `afterEach` that closes and drops what a test made.
 */
export const HOURLY_RELOAD: Env = { KEY_REFRESH_INTERVAL: '1h' }
/** Long enough for a busy machine, far below the hourly reload. */
export const PUSHED_WITHIN = { timeout: 10_000, interval: 20 }

/** What the test made, undone after it: instances closed, databases dropped. */
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})
/** Runs `undo` after the current test (last made, first undone). */
export const afterThisTest = (undo: () => Promise<void>) => {
  cleanups.push(undo)
}

/**
 * Two handles on one fresh database, as two processes would have: on the server each has
 * its own pool (and listening connection); PGlite lives in one process, so they share it.
 */
export async function sharedDatabase(): Promise<[Database, Database]> {
  const testDb = await createTestDatabase()
  cleanups.push(() => testDb.drop())
  if (testDb.url === null) return [testDb.database, testDb.database]
  const other = await createDatabase({ databaseUrl: testDb.url, pglitePath: null })
  cleanups.push(() => other.close())
  return [testDb.database, other]
}

export async function instance(...args: Parameters<typeof createInstance>): Promise<TestInstance> {
  const started = await createInstance(...args)
  cleanups.push(() => started.close())
  return started
}

export const rows = async (database: Database) =>
  Object.fromEntries(
    (await database.db.select().from(signingKeys)).map((row) => [row.kid, row] as const),
  )
export const kidIn = (state: string, table: Awaited<ReturnType<typeof rows>>) =>
  Object.values(table).find((row) => row.state === state)?.kid
export const published = (target: TestInstance) =>
  target.services.keyStore
    .jwks()
    .keys.map((key) => key.kid)
    .sort()
export const signingKid = (target: TestInstance) => {
  const signer = target.services.keyStore.signer()
  return signer.algorithm === 'HS256' ? null : signer.kid
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
export const me = (target: TestInstance, token: string) =>
  target.app.inject({ method: 'GET', url: '/users/me', headers: bearer(token) })
export async function accessToken(target: TestInstance, email: string): Promise<string> {
  const response = await target.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password: PASSWORD },
  })
  expect(response.statusCode).toBe(200)
  return response.json().access_token
}
