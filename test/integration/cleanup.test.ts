import { beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import type { Database, Db } from '../../src/db/client.js'
import {
  auditEvents,
  codeSends,
  oneTimeCodes,
  refreshTokens,
  sessions,
  users,
} from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { type CleanupKind, createCleanupService, runCleanup } from '../../src/services/cleanup.js'
import type { TestApp } from '../helpers/app.js'
import { cleaned, cleanupRows, HOUR, MINUTE, useCleanupApp } from '../helpers/cleanup-rows.js'

const app = useCleanupApp()
let t: TestApp
let other: Database
beforeAll(() => {
  ;({ t, other } = app)
})

const { ago, later, makeUser, makeStaleUsers, makeCode, makeToken, userIds, countRows } =
  cleanupRows(() => t)

const cleanupDeps = (db: Db = t.db) => ({
  repositories: createRepositories(db),
  config: t.config,
  clock: t.clock,
})

describe('a cleanup round', () => {
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
    expect(first.counts).toEqual(cleaned({ unverifiedUsers: 1 }))
    expect(first.interrupted).toBe(false)
    expect(first.durationMs).toBeGreaterThanOrEqual(0)
    expect(await userIds()).toEqual([young, verified, demoted].sort())
    // The deleted account's code and token went with it (cascade).
    expect(await countRows(oneTimeCodes)).toBe(0)
    expect(await countRows(refreshTokens)).toBe(0)

    t.clock.advance(31 * MINUTE)
    const second = await runCleanup(cleanupDeps())
    expect(second.counts).toEqual(cleaned({ unverifiedUsers: 1 }))
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
    expect(result.counts).toEqual(cleaned({ codes: 2, refreshTokens: 2 }))
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
    expect(afterExpiry.counts).toEqual(cleaned({ codes: 1, refreshTokens: 2 }))
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
    expect(first.counts).toEqual(cleaned({ codes: 2, codeSends: 1 }))
    expect(await t.db.select({ userId: oneTimeCodes.userId }).from(oneTimeCodes)).toEqual([
      { userId: locked },
    ])
    expect(await t.db.select({ addressHash: codeSends.addressHash }).from(codeSends)).toEqual([
      { addressHash: 'recent' },
    ])

    t.clock.advance(30 * MINUTE)
    const second = await runCleanup(cleanupDeps())
    expect(second.counts).toEqual(cleaned({ codes: 1, codeSends: 1 }))
    expect(await countRows(oneTimeCodes)).toBe(0)
    expect(await countRows(codeSends)).toBe(0)
  })

  it('purges audit events older than AUDIT_RETENTION, and only those', async () => {
    const retention = t.config.auditRetentionMs
    const event = (at: Date) => ({ id: newId(), type: 'user.updated', at })
    const old = event(ago(retention + 1))
    const recent = event(ago(retention - MINUTE))
    await t.db.insert(auditEvents).values([old, recent])

    expect((await runCleanup(cleanupDeps())).counts).toEqual(cleaned({ auditEvents: 1 }))
    const left = await t.db.select({ id: auditEvents.id }).from(auditEvents)
    expect(left).toEqual([{ id: recent.id }])

    t.clock.advance(MINUTE + 1)
    expect((await runCleanup(cleanupDeps())).counts).toEqual(cleaned({ auditEvents: 1 }))
    expect(await countRows(auditEvents)).toBe(0)
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
    expect(result.counts).toEqual(cleaned({ unverifiedUsers: 2 }))
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
