import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { mfaChallenges, totpFactors } from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { type CleanupKind, runCleanup } from '../../src/services/cleanup.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { postJson } from '../helpers/auth-flow.js'
import { authHeaders, type MadeUser, makeUser } from '../helpers/factories.js'
import { enrolTotp, startEnrolment, totpAt } from '../helpers/totp.js'

const MINUTE = 60_000

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const later = (ms: number) => new Date(t.clock.now().getTime() + ms)
const ago = (ms: number) => new Date(t.clock.now().getTime() - ms)

async function cleanupRound() {
  const deleted: Array<[CleanupKind, number]> = []
  const result = await runCleanup({
    repositories: createRepositories(t.db),
    config: t.config,
    clock: t.clock,
    onDeleted: (kind, n) => {
      deleted.push([kind, n])
    },
  })
  return { ...result, deleted: deleted.filter(([kind]) => kind.startsWith('mfa')) }
}

/** A challenge row as the login stores it, with the state under test. */
async function makeChallenge(
  userId: string,
  values: { expiresAt: Date; usedAt?: Date; attempts?: number },
): Promise<string> {
  const id = newId()
  const tokenHash = createHash('sha256').update(newId()).digest('hex')
  await t.db.insert(mfaChallenges).values({ id, userId, tokenHash, ...values })
  return id
}

/** Starts an enrolment (pending factor) through the API; its secret. */
async function pendingSecret(user: MadeUser, headers: { authorization: string }) {
  const started = await startEnrolment(t, headers, user.password)
  expect(started.statusCode).toBe(200)
  return (started.json() as { secret: string }).secret
}

const challengeIds = async () =>
  (await t.db.select({ id: mfaChallenges.id }).from(mfaChallenges).orderBy(mfaChallenges.id)).map(
    (row) => row.id,
  )
const factorUserIds = async () =>
  (
    await t.db.select({ userId: totpFactors.userId }).from(totpFactors).orderBy(totpFactors.userId)
  ).map((row) => row.userId)

describe('cleanup of two-factor rows', () => {
  it('purges expired, used and exhausted challenges and lapsed enrolments; keeps live ones and confirmed MFA', async () => {
    const confirmed = await makeUser(t)
    const confirmedHeaders = await authHeaders(t, confirmed)
    const { secret } = await enrolTotp(t, confirmedHeaders, confirmed.password)

    // Enrolments last 10 minutes: this one lapses before the round, the next one does not.
    const lapsed = await makeUser(t)
    await pendingSecret(lapsed, await authHeaders(t, lapsed))
    t.clock.advance(11 * MINUTE)
    const fresh = await makeUser(t)
    const freshHeaders = await authHeaders(t, fresh)
    const freshSecret = await pendingSecret(fresh, freshHeaders)

    await makeChallenge(confirmed.id, { expiresAt: ago(1_000) })
    await makeChallenge(confirmed.id, { expiresAt: later(4 * MINUTE), usedAt: ago(MINUTE) })
    await makeChallenge(confirmed.id, { expiresAt: later(4 * MINUTE), attempts: 5 })
    const live = await makeChallenge(confirmed.id, {
      expiresAt: later(4 * MINUTE),
      attempts: 4,
    })

    const round = await cleanupRound()
    expect(round.counts).toMatchObject({ mfaChallenges: 3, mfaEnrolments: 1 })
    expect(round.deleted).toEqual([
      ['mfaChallenges', 3],
      ['mfaEnrolments', 1],
    ])
    expect(await challengeIds()).toEqual([live])
    expect(await factorUserIds()).toEqual([confirmed.id, fresh.id].sort())

    // Nothing left to purge: a second round deletes none of them.
    expect((await cleanupRound()).counts).toMatchObject({ mfaChallenges: 0, mfaEnrolments: 0 })

    // The confirmed factor still works: a login with MFA goes through.
    const login = await postJson(t, '/auth/login', {
      email: confirmed.email,
      password: confirmed.password,
    })
    expect(login.statusCode).toBe(401)
    expect(login.json().code).toBe('mfa_required')
    const verified = await postJson(t, '/auth/mfa/verify', {
      mfa_token: login.json().mfa_token,
      code: totpAt(secret, t.clock.now()),
    })
    expect(verified.statusCode).toBe(200)
    expect(verified.json().access_token).toEqual(expect.any(String))

    // The fresh enrolment can still be confirmed.
    const confirmFresh = await t.app.inject({
      method: 'POST',
      url: '/users/me/mfa/totp/confirm',
      headers: freshHeaders,
      payload: { code: totpAt(freshSecret, t.clock.now()) },
    })
    expect(confirmFresh.statusCode).toBe(200)

    // The login's challenge, now used, goes in the next round; the live one stays until it
    // expires, and confirmed factors are never touched.
    const afterLogin = await cleanupRound()
    expect(afterLogin.counts).toMatchObject({ mfaChallenges: 1, mfaEnrolments: 0 })
    expect(await challengeIds()).toEqual([live])
    t.clock.advance(5 * MINUTE)
    const afterExpiry = await cleanupRound()
    expect(afterExpiry.counts).toMatchObject({ mfaChallenges: 1, mfaEnrolments: 0 })
    expect(await challengeIds()).toEqual([])
    expect(await factorUserIds()).toEqual([confirmed.id, fresh.id].sort())
  })
})
