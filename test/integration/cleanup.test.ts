import { Writable } from 'node:stream'
import { sql } from 'drizzle-orm'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { createDatabase, type Database, type Db } from '../../src/db/client.js'
import {
  codeSends,
  type NewUserRow,
  oneTimeCodes,
  refreshTokens,
  scheduledRuns,
  sessions,
  users,
} from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { createScheduler, type SchedulerDeps } from '../../src/scheduler.js'
import { type CleanupKind, createCleanupService, runCleanup } from '../../src/services/cleanup.js'
import { createTestApp, type TestApp } from '../helpers/app.js'

const HOUR = 3_600_000
const MINUTE = 60_000

let t: TestApp
/** A second connection to the same database: another process (PostgreSQL) or the same instance (PGlite). */
let other: Database
beforeAll(async () => {
  t = await createTestApp({ UNVERIFIED_USER_TTL: '1h' })
  other =
    t.databaseUrl === null
      ? t.database
      : await createDatabase({ databaseUrl: t.databaseUrl, pglitePath: null })
})
afterAll(async () => {
  if (other !== t.database) await other.close()
  await t.close()
})
beforeEach(async () => {
  await t.db.delete(users) // cascades to codes and tokens
  await t.db.delete(codeSends)
  // A timed round starts only when none started within the interval: each test starts fresh.
  await t.db.delete(scheduledRuns)
})

const ago = (ms: number) => new Date(t.clock.now().getTime() - ms)
const later = (ms: number) => new Date(t.clock.now().getTime() + ms)

async function makeUser(overrides: Partial<NewUserRow> = {}): Promise<string> {
  const id = newId()
  await t.db.insert(users).values({
    id,
    email: `${id.toLowerCase()}@example.com`,
    passwordHash: 'not-a-real-hash',
    createdAt: t.clock.now(),
    ...overrides,
  })
  return id
}

async function makeStaleUsers(count: number): Promise<void> {
  const rows = Array.from({ length: count }, (_, i) => {
    const id = newId()
    return {
      id,
      email: `stale-${id.toLowerCase()}@example.com`,
      passwordHash: 'not-a-real-hash',
      createdAt: ago(2 * HOUR + i),
    }
  })
  await t.db.insert(users).values(rows)
}

async function makeCode(
  userId: string,
  values: { expiresAt: Date; usedAt?: Date; recentFailures?: Date[] },
) {
  await t.db.insert(oneTimeCodes).values({
    userId,
    purpose: 'verify_email',
    codeHash: `hash-${newId()}`,
    ...values,
  })
}

async function makeToken(
  userId: string,
  values: { expiresAt: Date; spentAt?: Date; revokedAt?: Date },
): Promise<string> {
  const id = newId()
  // Its own session, live for a month: the token's fate here is its own.
  const now = t.clock.now()
  const expiresAt = new Date(now.getTime() + 30 * 86_400_000)
  await t.db.insert(sessions).values({ id, userId, lastUsedAt: now, expiresAt })
  await t.db
    .insert(refreshTokens)
    .values({ id, userId, familyId: id, tokenHash: `hash-${id}`, ...values })
  return id
}

async function userIds(): Promise<string[]> {
  const rows = await t.db.select({ id: users.id }).from(users).orderBy(users.id)
  return rows.map((row) => row.id)
}

async function countRows(
  table:
    | typeof users
    | typeof oneTimeCodes
    | typeof refreshTokens
    | typeof codeSends
    | typeof sessions,
) {
  const [row] = await t.db.select({ n: sql<number>`count(*)::int` }).from(table)
  return row?.n
}

const cleanupDeps = (db: Db = t.db) => ({
  repositories: createRepositories(db),
  config: t.config,
  clock: t.clock,
})

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)))
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

function schedulerDeps(database: Database, overrides: Partial<SchedulerDeps> = {}): SchedulerDeps {
  return {
    database,
    config: t.config,
    clock: t.clock,
    logger: capturingLogger().logger,
    ...overrides,
  }
}

/** A promise with its resolver, to hold one worker inside its round while another tries. */
function gate() {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

describe('runCleanup', () => {
  it('deletes never-verified accounts older than the TTL, and only those', async () => {
    const stale = await makeUser({ createdAt: ago(2 * HOUR) })
    const young = await makeUser({ createdAt: ago(30 * MINUTE) })
    const verified = await makeUser({
      createdAt: ago(2 * HOUR),
      isVerified: true,
      verifiedAt: ago(HOUR + 30 * MINUTE),
    })
    // Verified once, then marked unverified by an admin: verified_at stays set.
    const demoted = await makeUser({
      createdAt: ago(2 * HOUR),
      isVerified: false,
      verifiedAt: ago(HOUR + 30 * MINUTE),
    })
    await makeCode(stale, { expiresAt: later(10 * MINUTE) })
    await makeToken(stale, { expiresAt: later(HOUR) })

    const first = await runCleanup(cleanupDeps())
    expect(first.counts).toEqual({
      unverifiedUsers: 1,
      codes: 0,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 0,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    expect(first.interrupted).toBe(false)
    expect(first.durationMs).toBeGreaterThanOrEqual(0)
    expect(await userIds()).toEqual([young, verified, demoted].sort())
    // The deleted account's code and token went with it (cascade).
    expect(await countRows(oneTimeCodes)).toBe(0)
    expect(await countRows(refreshTokens)).toBe(0)

    t.clock.advance(31 * MINUTE)
    const second = await runCleanup(cleanupDeps())
    expect(second.counts).toEqual({
      unverifiedUsers: 1,
      codes: 0,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 0,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    expect(await userIds()).toEqual([verified, demoted].sort())
  })

  it('purges expired or used codes and expired or revoked refresh tokens, keeps live ones', async () => {
    const owner = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    const expiredCode = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    const usedCode = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    await makeCode(expiredCode, { expiresAt: ago(1_000) })
    await makeCode(usedCode, { expiresAt: later(10 * MINUTE), usedAt: ago(MINUTE) })
    await makeCode(owner, { expiresAt: later(10 * MINUTE) })
    await makeToken(owner, { expiresAt: ago(1_000) })
    await makeToken(owner, { expiresAt: later(HOUR), revokedAt: ago(MINUTE) })
    const spent = await makeToken(owner, { expiresAt: later(HOUR), spentAt: ago(MINUTE) })
    const live = await makeToken(owner, { expiresAt: later(HOUR) })

    const result = await runCleanup(cleanupDeps())
    expect(result.counts).toEqual({
      unverifiedUsers: 0,
      codes: 2,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 2,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    const codes = await t.db.select({ userId: oneTimeCodes.userId }).from(oneTimeCodes)
    expect(codes).toEqual([{ userId: owner }])
    const tokens = await t.db
      .select({ id: refreshTokens.id })
      .from(refreshTokens)
      .orderBy(refreshTokens.id)
    // A spent token is kept until it expires: presenting it again is how reuse is detected.
    expect(tokens.map((row) => row.id)).toEqual([spent, live])

    t.clock.advance(HOUR + 1)
    const afterExpiry = await runCleanup(cleanupDeps())
    expect(afterExpiry.counts).toEqual({
      unverifiedUsers: 0,
      codes: 1,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 2,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    expect(await countRows(users)).toBe(3)
  })

  it('purges expired sessions, ended or not, with their refresh tokens; keeps the others', async () => {
    const owner = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    const session = async (expiresAt: Date, endedAt: Date | null = null) => {
      const id = newId()
      await t.db
        .insert(sessions)
        .values({ id, userId: owner, lastUsedAt: ago(HOUR), expiresAt, endedAt })
      await t.db.insert(refreshTokens).values({
        id: newId(),
        userId: owner,
        familyId: id,
        tokenHash: `hash-${newId()}`,
        expiresAt,
        revokedAt: endedAt,
      })
      return id
    }
    await session(ago(1_000))
    await session(ago(1_000), ago(HOUR))
    const ended = await session(later(HOUR), ago(MINUTE))
    const live = await session(later(HOUR))

    const result = await runCleanup(cleanupDeps())
    // The ended session's revoked token goes; the session itself waits for its expiry.
    expect(result.counts).toMatchObject({ sessions: 2, refreshTokens: 1 })
    const rows = await t.db.select({ id: sessions.id }).from(sessions).orderBy(sessions.id)
    expect(rows.map((row) => row.id)).toEqual([ended, live])
    const tokens = await t.db.select({ familyId: refreshTokens.familyId }).from(refreshTokens)
    expect(tokens).toEqual([{ familyId: live }])

    t.clock.advance(HOUR + 1)
    expect((await runCleanup(cleanupDeps())).counts).toMatchObject({
      sessions: 2,
      refreshTokens: 0,
    })
    expect(await countRows(refreshTokens)).toBe(0)
  })

  it('keeps spent codes while their wrong tries count, and send records while they throttle', async () => {
    const locked = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    const forgiven = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    const clean = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    // Expired, with wrong tries in the last hour: they count against the next code.
    await makeCode(locked, {
      expiresAt: ago(MINUTE),
      recentFailures: [ago(50 * MINUTE), ago(30 * MINUTE)],
    })
    // Used, with wrong tries over an hour old; expired without any.
    await makeCode(forgiven, {
      expiresAt: later(MINUTE),
      usedAt: ago(MINUTE),
      recentFailures: [ago(HOUR + MINUTE)],
    })
    await makeCode(clean, { expiresAt: ago(MINUTE) })
    const sends = (addressHash: string, sentAt: Date[]) =>
      t.db.insert(codeSends).values({ addressHash, purpose: 'reset_password', sentAt })
    await sends('recent', [ago(20 * MINUTE), ago(10 * MINUTE)])
    await sends('old', [ago(20 * MINUTE), ago(16 * MINUTE)])

    const first = await runCleanup(cleanupDeps())
    expect(first.counts).toEqual({
      unverifiedUsers: 0,
      codes: 2,
      codeSends: 1,
      sessions: 0,
      refreshTokens: 0,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    expect(await t.db.select({ userId: oneTimeCodes.userId }).from(oneTimeCodes)).toEqual([
      { userId: locked },
    ])
    expect(await t.db.select({ addressHash: codeSends.addressHash }).from(codeSends)).toEqual([
      { addressHash: 'recent' },
    ])

    t.clock.advance(30 * MINUTE)
    const second = await runCleanup(cleanupDeps())
    expect(second.counts).toEqual({
      unverifiedUsers: 0,
      codes: 1,
      codeSends: 1,
      sessions: 0,
      refreshTokens: 0,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    expect(await countRows(oneTimeCodes)).toBe(0)
    expect(await countRows(codeSends)).toBe(0)
  })

  it('deletes in bounded batches until a short one, reporting each to onDeleted', async () => {
    await makeStaleUsers(10)
    const calls: Array<[CleanupKind, number]> = []
    const result = await runCleanup({
      ...cleanupDeps(),
      batchSize: 3,
      onDeleted: (kind, n) => {
        calls.push([kind, n])
      },
    })
    expect(result.counts.unverifiedUsers).toBe(10)
    expect(calls).toEqual([
      ['unverifiedUsers', 3],
      ['unverifiedUsers', 3],
      ['unverifiedUsers', 3],
      ['unverifiedUsers', 1],
    ])
    expect(await countRows(users)).toBe(0)
  })

  it('stops after the batch in flight when its signal is aborted', async () => {
    await makeStaleUsers(6)
    const owner = await makeUser({ isVerified: true, verifiedAt: t.clock.now() })
    await makeToken(owner, { expiresAt: ago(1_000) })
    const abort = new AbortController()
    const result = await runCleanup(
      { ...cleanupDeps(), batchSize: 2, onDeleted: () => abort.abort() },
      { signal: abort.signal },
    )
    expect(result.interrupted).toBe(true)
    expect(result.counts).toEqual({
      unverifiedUsers: 2,
      codes: 0,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 0,
      auditEvents: 0,
      mfaChallenges: 0,
      mfaEnrolments: 0,
    })
    expect(await countRows(users)).toBe(5)
    expect(await countRows(refreshTokens)).toBe(1)
  })

  it('two cleaners running at once delete every row exactly once and never fail', async () => {
    await makeStaleUsers(300)
    const [a, b] = await Promise.all([
      createCleanupService({ ...cleanupDeps(t.db), batchSize: 10 }).runCleanup(),
      createCleanupService({ ...cleanupDeps(other.db), batchSize: 10 }).runCleanup(),
    ])
    expect(a.counts.unverifiedUsers + b.counts.unverifiedUsers).toBe(300)
    expect(await countRows(users)).toBe(0)
  })
})

describe('scheduler', () => {
  it('runs one round at a time across instances: the other one skips', async () => {
    await makeStaleUsers(5)
    const holding = gate()
    const release = gate()
    const first = createScheduler(
      schedulerDeps(t.database, {
        batchSize: 2,
        onDeleted: async () => {
          holding.open()
          await release.opened
        },
      }),
    )
    const second = createScheduler(schedulerDeps(other))

    const firstRun = first.runOnce()
    await holding.opened // the first instance is inside its round, holding the lock
    const secondOutcome = await second.runOnce()
    release.open()
    const firstOutcome = await firstRun

    expect(secondOutcome).toEqual({ status: 'skipped' })
    expect(firstOutcome).toMatchObject({
      status: 'ran',
      counts: {
        unverifiedUsers: 5,
        codes: 0,
        codeSends: 0,
        sessions: 0,
        refreshTokens: 0,
        auditEvents: 0,
        mfaChallenges: 0,
        mfaEnrolments: 0,
      },
    })
    // The lock is free again once the round is over.
    await makeStaleUsers(1)
    expect(await second.runOnce()).toMatchObject({ status: 'ran', counts: { unverifiedUsers: 1 } })
  })

  it('two instances started together delete each row once and neither fails', async () => {
    await makeStaleUsers(2_500)
    const outcomes = await Promise.all([
      createScheduler(schedulerDeps(t.database)).runOnce(),
      createScheduler(schedulerDeps(other)).runOnce(),
    ])
    const deleted = outcomes.reduce(
      (sum, o) => sum + (o.status === 'ran' ? o.counts.unverifiedUsers : 0),
      0,
    )
    expect(deleted).toBe(2_500)
    expect(outcomes.some((o) => o.status === 'ran')).toBe(true)
    expect(await countRows(users)).toBe(0)
  })

  it('repeats every interval and logs one line per round with counts and duration', async () => {
    const { logger, lines } = capturingLogger()
    const scheduler = createScheduler(
      schedulerDeps(t.database, { logger, config: { ...t.config, cleanupIntervalMs: 20 } }),
    )
    const first = await makeUser({ createdAt: ago(2 * HOUR) })
    scheduler.start()
    try {
      await vi.waitFor(async () => expect(await userIds()).not.toContain(first), {
        timeout: 10_000,
      })
      const second = await makeUser({ createdAt: ago(2 * HOUR) })
      await vi.waitFor(async () => expect(await userIds()).not.toContain(second), {
        timeout: 10_000,
      })
    } finally {
      await scheduler.stop()
    }
    const rounds = lines.filter((line) => typeof line.durationMs === 'number')
    expect(rounds.filter((line) => line.unverifiedUsers === 1)).toHaveLength(2)
    expect(rounds[0]).toMatchObject({
      codes: 0,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 0,
      interrupted: false,
    })
    expect(rounds[0]?.msg).toMatch(
      /^cleanup: \d+ unverified users, 0 codes, 0 code send records, 0 sessions, 0 refresh tokens/,
    )
  })

  it('stop() lets the batch in flight finish, then ends the round', async () => {
    await makeStaleUsers(6)
    const { logger, lines } = capturingLogger()
    const holding = gate()
    const release = gate()
    const scheduler = createScheduler(
      schedulerDeps(t.database, {
        logger,
        batchSize: 2,
        onDeleted: async () => {
          holding.open()
          await release.opened
        },
      }),
    )
    scheduler.start()
    await holding.opened
    const stopped = scheduler.stop()
    release.open()
    await stopped
    expect(await countRows(users)).toBe(4)
    expect(lines.find((line) => typeof line.durationMs === 'number')).toMatchObject({
      unverifiedUsers: 2,
      interrupted: true,
    })
  })
})
