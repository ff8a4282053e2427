import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import type { Db } from '../../src/db/client.js'
import { sessions, users } from '../../src/db/schema.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createAuthCache } from '../../src/services/auth-cache.js'
import type { TestInstance } from '../helpers/app.js'
import { PASSWORD, type Tokens } from '../helpers/auth-flow.js'
import { createTestDatabase } from '../helpers/database.js'
import { makeAdmin, makeUser, NEW_PASSWORD } from '../helpers/factories.js'
import {
  accessToken,
  afterThisTest,
  instance,
  me,
  sharedDatabase,
} from '../helpers/key-instances.js'
import { metricValue } from '../helpers/metrics.js'
import { bearer, sidOf } from '../helpers/sessions.js'
import { INVALID_TOKEN } from '../helpers/users-api.js'

// Each instance keeps the users and sessions it authenticated (AUTH_CACHE_SIZE, on by
// default). Two instances share one database here, as two processes would; a change made
// through one, or typed in SQL, must be seen by the other's very next request.

const hits = (target: TestInstance) =>
  metricValue(target, 'auth_cache_lookups_total', { outcome: 'hit' })

async function twoInstances() {
  const [databaseA, databaseB] = await sharedDatabase()
  const a = await instance(databaseA)
  const b = await instance(databaseB)
  const admin = await makeAdmin(databaseA.db)
  const user = await makeUser(databaseA.db, { fullName: 'Ana Barista' })
  const adminToken = await accessToken(a, admin.email)
  const login = await a.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email: user.email, password: PASSWORD },
  })
  const tokens: Tokens = login.json()
  const { access_token: token, refresh_token: refreshToken } = tokens
  // Twice on B: the first reads the database, the second is served from B's cache.
  expect((await me(b, token)).statusCode).toBe(200)
  const before = await hits(b)
  expect((await me(b, token)).statusCode).toBe(200)
  expect(await hits(b)).toBe(before + 1)
  return { a, b, databaseA, admin, adminToken, user, tokens, token, refreshToken }
}

type Setup = Awaited<ReturnType<typeof twoInstances>>

const changes: [string, (s: Setup) => Promise<unknown>, (answer: object, s: Setup) => void][] = [
  [
    'a deactivation',
    (s) => patchUser(s, s.adminToken, { is_active: false }),
    (answer) => expect(answer).toEqual(INVALID_TOKEN),
  ],
  [
    'a deletion',
    (s) =>
      s.a.app.inject({
        method: 'DELETE',
        url: `/users/${s.user.id}`,
        headers: bearer(s.adminToken),
      }),
    (answer) => expect(answer).toEqual(INVALID_TOKEN),
  ],
  [
    'withdrawn verification',
    (s) => patchUser(s, s.adminToken, { is_verified: false }),
    (answer) => expect(answer).toEqual(INVALID_TOKEN),
  ],
  [
    'a password change',
    (s) => patchUser(s, s.token, { password: NEW_PASSWORD, current_password: PASSWORD }),
    (answer) => expect(answer).toEqual(INVALID_TOKEN),
  ],
  [
    'a logout',
    (s) =>
      s.a.app.inject({
        method: 'POST',
        url: '/auth/logout',
        payload: { refresh_token: s.refreshToken },
      }),
    (answer) => expect(answer).toEqual(INVALID_TOKEN),
  ],
  [
    'the session ended from the sessions list',
    (s) =>
      s.a.app.inject({
        method: 'DELETE',
        url: `/users/me/sessions/${sidOf(s.tokens)}`,
        headers: bearer(s.token),
      }),
    (answer) => expect(answer).toEqual(INVALID_TOKEN),
  ],
  [
    'a promotion to admin',
    (s) => patchUser(s, s.adminToken, { role: 'admin' }),
    (answer) => expect(answer).toMatchObject({ role: 'admin' }),
  ],
  [
    'a new name',
    (s) => patchUser(s, s.token, { full_name: 'Ana Roaster' }),
    (answer, s) => expect(answer).toMatchObject({ id: s.user.id, full_name: 'Ana Roaster' }),
  ],
]

function patchUser(s: Setup, token: string, payload: object) {
  return s.a.app
    .inject({ method: 'PATCH', url: `/users/${s.user.id}`, headers: bearer(token), payload })
    .then((response) => expect(response.statusCode).toBeLessThan(300))
}

describe('the auth cache', () => {
  it.each(changes)(
    'sees %s made through another instance at the next request',
    async (_name, change, check) => {
      const s = await twoInstances()
      await change(s)
      check((await me(s.b, s.token)).json(), s)
    },
  )

  it('sees a change typed in SQL, made by no instance, at the next request', async () => {
    const s = await twoInstances()
    await s.databaseA.db
      .update(users)
      .set({ fullName: 'Set By Hand' })
      .where(eq(users.id, s.user.id))
    expect((await me(s.b, s.token)).json()).toMatchObject({ full_name: 'Set By Hand' })
    await s.databaseA.db.update(users).set({ isActive: false }).where(eq(users.id, s.user.id))
    expect((await me(s.b, s.token)).json()).toEqual(INVALID_TOKEN)
  })

  it('does not keep a read that a change overtook', async () => {
    const testDb = await createTestDatabase()
    afterThisTest(() => testDb.drop())
    const { db } = testDb.database
    const cache = createAuthCache({
      database: testDb.database,
      maxUsers: 10,
      logger: { warn() {} },
    })
    await cache.start()
    afterThisTest(() => cache.stop())
    const repository = createUsersRepository(db)
    const [user, other] = [await makeUser(db), await makeUser(db)]
    const [session, otherSession] = [await sessionOf(db, user), await sessionOf(db, other)]
    const load = (id: string, sessionId: string) => () => repository.findWithSession(id, sessionId)
    await cache.find(other.id, otherSession, load(other.id, otherSession))
    // The read returns the row as it was; the deactivation then commits, and a hit on
    // another user makes the round trip that delivers its notification, all before the
    // cache could keep the row read.
    const overtaken = await cache.find(user.id, session, async () => {
      const stale = await load(user.id, session)()
      await repository.update(user.id, { isActive: false })
      await cache.find(other.id, otherSession, load(other.id, otherSession))
      return stale
    })
    expect(overtaken?.user.isActive).toBe(true)
    expect((await cache.find(user.id, session, load(user.id, session)))?.user.isActive).toBe(false)
  })
})

async function sessionOf(db: Db, user: { id: string }): Promise<string> {
  const now = new Date()
  const expiresAt = new Date(now.getTime() + 86_400_000)
  const id = newId()
  await db
    .insert(sessions)
    .values({ id, userId: user.id, createdAt: now, lastUsedAt: now, expiresAt })
  return id
}
