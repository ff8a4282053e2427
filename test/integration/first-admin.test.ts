import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/core/config.js'
import { verifyPassword } from '../../src/core/security.js'
import { createDatabase } from '../../src/db/client.js'
import { users } from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { createUsersRepository } from '../../src/repositories/users.js'
import { createEventRecorder } from '../../src/services/audit.js'
import { createUsersService } from '../../src/services/users.js'
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js'
import { makeRefreshToken, makeUser, refreshTokenRevokedAt } from '../helpers/factories.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())
// Each test starts with no users, as a fresh deployment does.
beforeEach(async () => {
  await t.db.delete(users)
})

const activeAdmins = () => createUsersRepository(t.db).countActiveVerifiedAdmins()

describe('the first admin made from FIRST_ADMIN_EMAIL and FIRST_ADMIN_PASSWORD', () => {
  const PASSWORD = 'first admin passphrase'
  const serviceFor = (db = t.db, email = 'Boss@Example.com') =>
    createUsersService({
      config: loadConfig({
        SECRET_KEY: TEST_SECRET,
        BCRYPT_ROUNDS: '4',
        FIRST_ADMIN_EMAIL: email,
        FIRST_ADMIN_PASSWORD: PASSWORD,
      }),
      repositories: createRepositories(db),
      clock: t.clock,
      recordEvent: createEventRecorder(t.clock),
    })

  it('does nothing when unset', async () => {
    const service = createUsersService({
      config: loadConfig({ SECRET_KEY: TEST_SECRET }),
      repositories: createRepositories(t.db),
      clock: t.clock,
      recordEvent: createEventRecorder(t.clock),
    })
    expect(await service.ensureFirstAdmin()).toBeNull()
    expect(await t.db.select().from(users)).toEqual([])
  })

  it('creates a verified admin once; later starts change nothing', async () => {
    const first = await serviceFor().ensureFirstAdmin()
    expect(first?.action).toBe('created')
    expect(first?.user).toMatchObject({
      email: 'boss@example.com',
      role: 'admin',
      isVerified: true,
      isActive: true,
    })
    expect(first?.user.verifiedAt).toBeInstanceOf(Date)
    expect(await verifyPassword(PASSWORD, first?.user.passwordHash ?? '')).toBe(true)
    expect(await serviceFor().ensureFirstAdmin()).toBeNull()
    expect(await serviceFor(t.db, 'other@example.com').ensureFirstAdmin()).toBeNull()
    expect(await t.db.select().from(users)).toHaveLength(1)
  })

  it('promotes, verifies and re-keys an existing user with that e-mail', async () => {
    const squatter = await makeUser(t, {
      email: 'boss@example.com',
      isVerified: false,
      verifiedAt: null,
      isActive: false,
    })
    const refresh = await makeRefreshToken(t, squatter)
    const result = await serviceFor().ensureFirstAdmin()
    expect(result?.action).toBe('promoted')
    expect(result?.user).toMatchObject({
      id: squatter.id,
      role: 'admin',
      isVerified: true,
      isActive: true,
    })
    // Whoever registered the address first does not keep access with their own password.
    expect(await verifyPassword(squatter.password, result?.user.passwordHash ?? '')).toBe(false)
    expect(await verifyPassword(PASSWORD, result?.user.passwordHash ?? '')).toBe(true)
    expect(await refreshTokenRevokedAt(t, refresh)).toBeInstanceOf(Date)
  })

  it('creates exactly one admin when several processes start at once', async () => {
    // On the server each service gets its own connection pool, as separate processes would.
    const extra = await Promise.all(
      Array.from({ length: 4 }, () =>
        t.databaseUrl === null
          ? null
          : createDatabase({ databaseUrl: t.databaseUrl, pglitePath: null, poolMax: 2 }),
      ),
    )
    try {
      const services = extra.map((database) => serviceFor(database?.db ?? t.db))
      const results = await Promise.all(services.map((service) => service.ensureFirstAdmin()))
      expect(results.filter((result) => result !== null)).toHaveLength(1)
      expect(await t.db.select().from(users)).toHaveLength(1)
      expect(await activeAdmins()).toBe(1)
    } finally {
      await Promise.all(extra.map((database) => database?.close()))
    }
  })

  it('is refused at start when the password is a common one', () => {
    expect(() =>
      loadConfig({ FIRST_ADMIN_EMAIL: 'boss@example.com', FIRST_ADMIN_PASSWORD: 'password123' }),
    ).toThrow('FIRST_ADMIN_PASSWORD: Password is too common')
  })
})
