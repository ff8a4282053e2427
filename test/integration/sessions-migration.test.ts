import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { generateRefreshToken, hashPassword, hashToken } from '../../src/core/security.js'
import type { Database } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { refresh, type Tokens } from '../helpers/auth-flow.js'
import { createTestDatabase } from '../helpers/database.js'

/** The committed migrations before the sessions table, in a folder of their own. */
function migrationsBeforeSessions(): string {
  const folder = mkdtempSync(join(tmpdir(), 'migrations-'))
  mkdirSync(join(folder, 'meta'))
  const journal = JSON.parse(readFileSync('drizzle/meta/_journal.json', 'utf8'))
  const entries = journal.entries.slice(
    0,
    journal.entries.findIndex((entry: { tag: string }) => entry.tag === '0003_sessions'),
  )
  expect(entries.length).toBe(3)
  for (const { tag } of entries) cpSync(`drizzle/${tag}.sql`, join(folder, `${tag}.sql`))
  writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }))
  return folder
}

async function migrateBeforeSessions(database: Database) {
  const migrationsFolder = migrationsBeforeSessions()
  try {
    if (database.kind === 'pglite') {
      await migratePglite(database.db as unknown as PgliteDatabase, { migrationsFolder })
    } else {
      await migrateNodePg(database.db as unknown as NodePgDatabase, { migrationsFolder })
    }
  } finally {
    rmSync(migrationsFolder, { recursive: true })
  }
}

/**
 * A database as the previous version left it: a user with two logins, one in flight (a
 * spent token and its live successor) and one logged out (every token revoked).
 */
async function previousVersionData(database: Database) {
  const userId = newId()
  const live = { familyId: newId(), token: generateRefreshToken() }
  const loggedOut = { familyId: newId(), token: generateRefreshToken() }
  const passwordHash = await hashPassword('not-used-here-1234', 4)
  const { db } = database
  await db.execute(sql`insert into users (id, email, password_hash, is_verified, verified_at)
    values (${userId}, ${`${userId.toLowerCase()}@example.com`}, ${passwordHash}, true, now())`)
  const token = (familyId: string, hash: string, extra: string) =>
    db.execute(
      sql`insert into refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at, spent_at, revoked_at) values (${newId()}, ${userId}, ${familyId}, ${hash}, ${sql.raw(extra)})`,
    )
  await token(
    live.familyId,
    hashToken(generateRefreshToken()),
    "now() - interval '2 days', now() + interval '28 days', now() - interval '1 day', null",
  )
  await token(
    live.familyId,
    hashToken(live.token),
    "now() - interval '1 day', now() + interval '29 days', null, null",
  )
  await token(
    loggedOut.familyId,
    hashToken(loggedOut.token),
    "now() - interval '3 days', now() + interval '27 days', null, now() - interval '1 hour'",
  )
  return { userId, live, loggedOut }
}

describe('the sessions migration, on a database with logins in flight', () => {
  let t: TestApp
  let before: Awaited<ReturnType<typeof previousVersionData>>
  beforeAll(async () => {
    const database = await createTestDatabase({ migrated: false })
    await migrateBeforeSessions(database.database)
    before = await previousVersionData(database.database)
    await runMigrations(database.database)
    t = await createTestApp({}, { database })
  })
  afterAll(() => t?.close())

  it('gives each login a session its tokens keep working in', async () => {
    const { userId, live } = before
    const user = await t.services.users.getUser(userId)
    // An access token the previous version issued for that login (it already named it).
    const earlier = t.services.tokens.issueAccessToken(user, live.familyId).token
    const me = (token: string) =>
      t.app.inject({
        method: 'GET',
        url: '/users/me',
        headers: { authorization: `Bearer ${token}` },
      })
    expect((await me(earlier)).statusCode).toBe(200)

    const refreshed = await refresh(t, live.token)
    expect(refreshed.statusCode).toBe(200)
    const tokens = refreshed.json() as Tokens
    expect(decodeJwt(tokens.access_token).sid).toBe(live.familyId)
    expect((await me(tokens.access_token)).statusCode).toBe(200)

    const listed = await t.app.inject({
      method: 'GET',
      url: '/users/me/sessions',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    })
    const items = listed.json().items
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ id: live.familyId, current: true, user_agent: null, ip: null })
    // Its login: the oldest token of the family, two days ago.
    const age = Date.now() - Date.parse(items[0].created_at)
    expect(age).toBeGreaterThan(2 * 86_400_000 - 60_000)
    expect(age).toBeLessThan(2 * 86_400_000 + 60_000)
  })

  it('ends the sessions of logins that had been logged out', async () => {
    const { userId, loggedOut } = before
    expect((await refresh(t, loggedOut.token)).statusCode).toBe(401)
    const user = await t.services.users.getUser(userId)
    const token = t.services.tokens.issueAccessToken(user, loggedOut.familyId).token
    const response = await t.app.inject({
      method: 'GET',
      url: '/users/me',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(response.statusCode).toBe(401)
  })
})
