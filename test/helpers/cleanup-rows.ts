import type { PgTable } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, beforeEach } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { createDatabase, type Database } from '../../src/db/client.js'
import {
  auditEvents,
  codeSends,
  type NewUserRow,
  oneTimeCodes,
  refreshTokens,
  scheduledRuns,
  sessions,
  users,
} from '../../src/db/schema.js'
import type { CleanupKind } from '../../src/services/cleanup.js'
import { createTestApp, type TestApp } from './app.js'

export const HOUR = 3_600_000
export const MINUTE = 60_000

/**
 * The app of a cleanup test file (unverified accounts expire after an hour), with `other`,
 * a second connection to its database: another process (PostgreSQL) or the same instance
 * (PGlite). Every table the cleanup reads is emptied before each test. Filled in beforeAll.
 */
export function useCleanupApp() {
  const state = {} as { t: TestApp; other: Database }
  beforeAll(async () => {
    state.t = await createTestApp({ UNVERIFIED_USER_TTL: '1h' })
    const url = state.t.databaseUrl
    state.other =
      url === null ? state.t.database : await createDatabase({ databaseUrl: url, pglitePath: null })
  })
  afterAll(async () => {
    if (state.other !== state.t.database) await state.other.close()
    await state.t.close()
  })
  beforeEach(async () => {
    await state.t.db.delete(users) // cascades to codes, sessions and tokens
    await state.t.db.delete(codeSends)
    await state.t.db.delete(auditEvents)
    // A timed round starts only when none started within the interval: each test starts fresh.
    await state.t.db.delete(scheduledRuns)
  })
  return state
}

/** What a cleanup round that deleted nothing reports; `cleaned({ codes: 2 })` adds to it. */
const NOTHING: Record<CleanupKind, number> = {
  unverifiedUsers: 0,
  codes: 0,
  codeSends: 0,
  sessions: 0,
  refreshTokens: 0,
  auditEvents: 0,
  mfaChallenges: 0,
  mfaEnrolments: 0,
}
export const cleaned = (some: Partial<Record<CleanupKind, number>>) => ({ ...NOTHING, ...some })

/**
 * Rows written straight into the test app's database, in the state a cleanup test needs
 * (an age, an expiry, spent or not), with times relative to its clock. `app` is read when
 * a row is made, so the rows can be declared before `beforeAll` creates the app.
 */
export function cleanupRows(app: () => TestApp) {
  const ago = (ms: number) => new Date(app().clock.now().getTime() - ms)
  const later = (ms: number) => new Date(app().clock.now().getTime() + ms)

  /** An account (unverified unless `overrides` say otherwise); its id. */
  async function makeUser(overrides: Partial<NewUserRow> = {}): Promise<string> {
    const id = newId()
    await app()
      .db.insert(users)
      .values({
        id,
        email: `${id.toLowerCase()}@example.com`,
        passwordHash: 'not-a-real-hash',
        createdAt: app().clock.now(),
        ...overrides,
      })
    return id
  }

  /** `count` never-verified accounts two hours old: past the tests' one-hour TTL. */
  async function makeStaleUsers(count: number): Promise<void> {
    const rows = Array.from({ length: count }, (_, i) => {
      const id = newId()
      const email = `stale-${id.toLowerCase()}@example.com`
      return { id, email, passwordHash: 'not-a-real-hash', createdAt: ago(2 * HOUR + i) }
    })
    await app().db.insert(users).values(rows)
  }

  async function makeCode(
    userId: string,
    values: { expiresAt: Date; usedAt?: Date; recentFailures?: Date[] },
  ) {
    const codeHash = `hash-${newId()}`
    await app()
      .db.insert(oneTimeCodes)
      .values({ userId, purpose: 'verify_email', codeHash, ...values })
  }

  /** A refresh token in its own session, live for a month: the token's fate is its own. */
  async function makeToken(
    userId: string,
    values: { expiresAt: Date; spentAt?: Date; revokedAt?: Date },
  ): Promise<string> {
    const id = newId()
    const now = app().clock.now()
    const expiresAt = new Date(now.getTime() + 30 * 86_400_000)
    await app().db.insert(sessions).values({ id, userId, lastUsedAt: now, expiresAt })
    await app()
      .db.insert(refreshTokens)
      .values({ id, userId, familyId: id, tokenHash: `hash-${id}`, ...values })
    return id
  }

  async function userIds(): Promise<string[]> {
    const rows = await app().db.select({ id: users.id }).from(users).orderBy(users.id)
    return rows.map((row) => row.id)
  }

  const countRows = (table: PgTable) => app().db.$count(table)

  return { ago, later, makeUser, makeStaleUsers, makeCode, makeToken, userIds, countRows }
}
