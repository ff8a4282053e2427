import { decodeProtectedHeader } from 'jose'
import { describe, expect, it, vi } from 'vitest'
import { type Env, loadConfig } from '../../src/core/config.js'
import { createLogger } from '../../src/core/logger.js'
import { createScheduler } from '../../src/scheduler.js'
import { createKeyServices } from '../../src/services/index.js'
import { signingKeyRetentionMs } from '../../src/services/signing-keys.js'
import { createTestClock, TEST_SECRET } from '../helpers/app.js'
import { PASSWORD } from '../helpers/auth-flow.js'
import { createTestDatabase } from '../helpers/database.js'
import { makeUser } from '../helpers/factories.js'
import {
  accessToken,
  afterThisTest,
  HOURLY_RELOAD,
  instance,
  kidIn,
  me,
  PUSHED_WITHIN,
  published,
  rows,
  sharedDatabase,
  signingKid,
} from '../helpers/key-instances.js'

/**
 * Rotation by the scheduler (SIGNING_KEY_ROTATION), retired and revoked keys leaving the
 * table, and a revocation reaching another instance. Every instance reloads its keys only
 * once an hour here (KEY_REFRESH_INTERVAL=1h), so a change seen within seconds was pushed
 * (LISTEN/NOTIFY); time moves on the injected clock, never by sleeping.
 */
const parsed = (lines: string[]) => lines.map((line) => JSON.parse(line))

describe('SIGNING_KEY_ROTATION: the scheduler rotates on its own', () => {
  async function setUp(rotation = '1h') {
    const [databaseA, databaseB] = await sharedDatabase()
    const clock = createTestClock()
    const env = { ...HOURLY_RELOAD, SIGNING_KEY_ROTATION: rotation }
    const logLines: string[] = []
    const a = await instance(databaseA, env, { clock, logLines })
    const b = await instance(databaseB, env, { clock })
    const schedulerLines: string[] = []
    const scheduler = createScheduler({
      database: databaseA,
      config: a.config,
      clock,
      logger: createLogger(a.config, { write: (line: string) => schedulerLines.push(line) }),
      signingKeys: a.services.signingKeys,
    })
    afterThisTest(() => scheduler.stop())
    const user = await makeUser(databaseA.db, { password: PASSWORD })
    return { databaseA, clock, a, b, scheduler, user, logLines }
  }

  it('rotates once the current key is that old; every instance signs with the new key', async () => {
    const { databaseA, clock, a, b, scheduler, user, logLines } = await setUp()
    const before = await rows(databaseA)
    const [first, second] = [kidIn('current', before), kidIn('next', before)]

    clock.advance(59 * 60_000)
    await scheduler.runRound()
    expect(await rows(databaseA)).toEqual(before)
    const oldToken = await accessToken(a, user.email)
    expect(decodeProtectedHeader(oldToken).kid).toBe(first)

    clock.advance(2 * 60_000)
    await scheduler.runRound()
    const after = await rows(databaseA)
    expect(kidIn('current', after)).toBe(second)
    expect(after[first ?? '']).toMatchObject({ state: 'retired', retiredAt: clock.now() })
    const third = kidIn('next', after)
    expect(third).not.toBe(undefined)
    expect(Object.keys(after)).toHaveLength(3)
    expect(parsed(logLines)).toContainEqual(
      expect.objectContaining({
        event: 'signing_key_rotated',
        reason: 'scheduled',
        retired: first,
        current: second,
        next: third,
        msg: `signing key rotated (scheduled): ${second} now signs, ${third} is next, ${first} retired`,
      }),
    )

    // The other instance was told: it signs with the promoted key without its hourly reload.
    await vi.waitFor(() => expect(signingKid(b)).toBe(second), PUSHED_WITHIN)
    const newToken = await accessToken(b, user.email)
    expect(decodeProtectedHeader(newToken).kid).toBe(second)
    expect(published(b)).toEqual([first, second, third].sort())
    // Tokens of the retired key stay valid everywhere until they expire.
    for (const target of [a, b]) {
      expect((await me(target, oldToken)).statusCode).toBe(200)
      expect((await me(target, newToken)).statusCode).toBe(200)
    }

    // The promoted key has just started signing: the next round leaves it alone.
    await scheduler.runRound()
    expect(kidIn('current', await rows(databaseA))).toBe(second)
  })

  it('deletes a retired key once every token it signed has expired, and it leaves the JWKS', async () => {
    // Rotated once here; the rotation period is longer than the wait that follows.
    const { databaseA, clock, a, b, scheduler, logLines } = await setUp('1d')
    const first = kidIn('current', await rows(databaseA))
    clock.advance(86_400_000)
    await scheduler.runRound()
    expect(kidIn('retired', await rows(databaseA))).toBe(first)
    await vi.waitFor(() => expect(published(b)).toHaveLength(3), PUSHED_WITHIN)
    const retention = signingKeyRetentionMs(a.config)
    // Retention: every token it signed expired, instances slow to reload included.
    expect(retention).toBeGreaterThan(a.config.accessTokenTtlMs + a.config.keyRefreshIntervalMs)

    clock.advance(retention - 1_000)
    await scheduler.runRound()
    expect((await rows(databaseA))[first ?? '']?.state).toBe('retired')

    clock.advance(2_000)
    await scheduler.runRound()
    expect(Object.keys(await rows(databaseA))).not.toContain(first)
    expect(parsed(logLines)).toContainEqual(
      expect.objectContaining({
        event: 'signing_key_deleted',
        kid: first,
        previousState: 'retired',
      }),
    )
    for (const target of [a, b]) {
      await vi.waitFor(() => expect(published(target)).toHaveLength(2), PUSHED_WITHIN)
      expect(published(target)).not.toContain(first)
    }
    const jwks = await b.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    expect(jwks.json().keys.map((key: { kid: string }) => key.kid)).not.toContain(first)
  })

  it('stays off by default, and never makes the first key (an upgrade from HS256 does)', async () => {
    const { database } = await createTestDatabase().then((testDb) => {
      afterThisTest(() => testDb.drop())
      return testDb
    })
    const clock = createTestClock()
    const keyServices = (env: Env) =>
      createKeyServices({
        config: loadConfig({ SECRET_KEY: TEST_SECRET, ...env }),
        database,
        clock,
      }).signingKeys
    // No key yet (an HS256 deployment): the API's start makes the first one, with the
    // window for HS256 tokens; the scheduler must not get there first without it.
    expect(await keyServices({ SIGNING_KEY_ROTATION: '1h' }).maintain()).toEqual({
      rotation: null,
      deleted: [],
    })
    expect(await rows(database)).toEqual({})

    await instance(database, {}, { clock })
    const before = await rows(database)
    clock.advance(365 * 86_400_000)
    expect((await keyServices({}).maintain()).rotation).toBe(null)
    expect(await rows(database)).toEqual(before)
    expect((await keyServices({ SIGNING_KEY_ROTATION: '90d' }).maintain()).rotation).not.toBe(null)
  })
})

describe('keys revoke: another instance refuses the key at once, pushed', () => {
  it('refuses its tokens and unpublishes it everywhere, with no database read per request', async () => {
    const [databaseA, databaseB] = await sharedDatabase()
    const clock = createTestClock()
    const logLines: string[] = []
    const a = await instance(databaseA, HOURLY_RELOAD, { clock, logLines })
    const b = await instance(databaseB, HOURLY_RELOAD, { clock })
    const user = await makeUser(databaseA.db, { password: PASSWORD })
    const token = await accessToken(a, user.email)
    const { kid } = decodeProtectedHeader(token)
    const before = await rows(databaseA)
    expect(kid).toBe(kidIn('current', before))

    const loads = vi.spyOn(b.services.signingKeys, 'list')
    for (let i = 0; i < 5; i++) expect((await me(b, token)).statusCode).toBe(200)
    expect(loads).not.toHaveBeenCalled()

    const revocation = await a.services.signingKeys.revoke(kid ?? '')
    expect(revocation).toEqual({
      status: 'revoked',
      kid,
      state: 'current',
      current: kidIn('next', before),
      next: expect.any(String),
    })
    expect(parsed(logLines)).toContainEqual(
      expect.objectContaining({
        event: 'signing_key_revoked',
        kid,
        previousState: 'current',
        msg: `signing key ${kid} revoked (was current)`,
      }),
    )
    // Pushed: both drop the key without a request asking, long before their hourly reload
    // (a too learns it by the NOTIFY, which a busy machine may deliver after b's).
    // One NOTIFY per change, so one reload.
    await vi.waitFor(() => {
      expect(published(a)).not.toContain(kid)
      expect(published(b)).not.toContain(kid)
    }, PUSHED_WITHIN)
    expect(loads).toHaveBeenCalledTimes(1)
    for (const target of [a, b]) {
      for (let i = 0; i < 3; i++) {
        const refused = await me(target, token)
        expect(refused.statusCode).toBe(401)
        expect(refused.headers['www-authenticate']).toBe('Bearer')
        expect(refused.json()).toEqual({
          detail: 'Could not validate credentials',
          code: 'invalid_token',
        })
      }
      const jwks = await target.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
      expect(jwks.json().keys.map((key: { kid: string }) => key.kid)).not.toContain(kid)
    }
    // A revoked kid is known to be refused: no reload for it, however often it is presented.
    expect(loads).toHaveBeenCalledTimes(1)
    expect(signingKid(b)).toBe(revocation.status === 'revoked' ? revocation.current : null)

    const after = await rows(databaseA)
    expect(after[kid ?? '']).toMatchObject({ state: 'revoked', privateKey: null })
    const fresh = await accessToken(b, user.email)
    expect(decodeProtectedHeader(fresh).kid).toBe(kidIn('current', after))
    expect((await me(a, fresh)).statusCode).toBe(200)

    // Gone from the table once its tokens would have expired anyway.
    clock.advance(signingKeyRetentionMs(a.config) + 1_000)
    expect((await a.services.signingKeys.maintain()).deleted).toEqual([kid])
    expect(Object.keys(await rows(databaseA))).not.toContain(kid)
  })

  it('revokes the next key too (replaced at once), and says when there is nothing to revoke', async () => {
    const [database] = await sharedDatabase()
    const a = await instance(database, HOURLY_RELOAD)
    const before = await rows(database)
    const next = kidIn('next', before) ?? ''
    const revocation = await a.services.signingKeys.revoke(next)
    expect(revocation).toMatchObject({ status: 'revoked', state: 'next' })
    const after = await rows(database)
    expect(kidIn('current', after)).toBe(kidIn('current', before))
    expect(kidIn('next', after)).not.toBe(next)
    await vi.waitFor(() => expect(published(a)).not.toContain(next), PUSHED_WITHIN)
    expect(await a.services.signingKeys.revoke(next)).toEqual({ status: 'already_revoked' })
    expect(await a.services.signingKeys.revoke('no-such-kid')).toEqual({ status: 'not_found' })
  })
})
