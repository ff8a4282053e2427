import { sql } from 'drizzle-orm'
import { decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { deriveKeys, keysFor } from '../../src/core/keys.js'
import { openPrivateKey } from '../../src/core/signing-keys.js'
import { createDatabase, type Database } from '../../src/db/client.js'
import { signingKeys } from '../../src/db/schema.js'
import { createInstance, createTestClock, TEST_SECRET, type TestInstance } from '../helpers/app.js'
import { PASSWORD } from '../helpers/auth-flow.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { makeUser } from '../helpers/factories.js'
import { forgeJwt } from '../helpers/jwt.js'

/** Databases and instances made by a test, closed after it whatever happened. */
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

async function freshDatabase(): Promise<TestDatabase> {
  const testDb = await createTestDatabase()
  cleanups.push(() => testDb.drop())
  return testDb
}

async function instance(...args: Parameters<typeof createInstance>): Promise<TestInstance> {
  const started = await createInstance(...args)
  cleanups.push(() => started.close())
  return started
}

const storedKeys = (database: Database) => database.db.select().from(signingKeys)

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const me = (target: TestInstance, token: string) =>
  target.app.inject({ method: 'GET', url: '/users/me', headers: bearer(token) })
const loginAs = async (target: TestInstance, email: string) => {
  const response = await target.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password: PASSWORD },
  })
  return { status: response.statusCode, body: response.json() }
}

describe('the first start', () => {
  it('makes one current and one next key, however many instances start at once', async () => {
    const { database } = await freshDatabase()
    const instances = await Promise.all(Array.from({ length: 4 }, () => instance(database)))
    const rows = await storedKeys(database)
    expect(rows.map((row) => `${row.state} ${row.algorithm}`).sort()).toEqual([
      'current ES256',
      'next ES256',
    ])
    const current = rows.find((row) => row.state === 'current')
    for (const each of instances) {
      const signer = each.services.keyStore.signer()
      expect(signer.algorithm === 'HS256' ? null : signer.kid).toBe(current?.kid)
    }
  })

  it('stores private keys sealed under a key derived from SECRET_KEY', async () => {
    const { database } = await freshDatabase()
    await instance(database)
    const rows = await storedKeys(database)
    const encryptionKey = keysFor(TEST_SECRET).signingKeySealing
    for (const row of rows) {
      expect(row.privateKey).toMatch(/^v1\.[A-Za-z0-9_-]+$/)
      expect(JSON.stringify(row.publicJwk)).not.toContain('"d"')
      const opened = openPrivateKey(encryptionKey, row.kid, row.privateKey ?? '')
      expect(opened.asymmetricKeyType).toBe('ec')
      // Sealed to its row: the kid is authenticated, and the raw secret is not the key.
      expect(() => openPrivateKey(encryptionKey, `${row.kid}x`, row.privateKey ?? '')).toThrow()
      const raw = deriveKeys(`${TEST_SECRET}-other`).signingKeySealing
      expect(() => openPrivateKey(raw, row.kid, row.privateKey ?? '')).toThrow()
    }
  })

  it('with another SECRET_KEY: verifies, but cannot sign, says why, and is not ready', async () => {
    const { database } = await freshDatabase()
    const first = await instance(database)
    const user = await makeUser(database.db, { password: PASSWORD })
    const { body } = await loginAs(first, user.email)
    const lines: string[] = []
    const other = await instance(
      database,
      { SECRET_KEY: `${TEST_SECRET}-rotated-by-mistake` },
      { logLines: lines },
    )
    expect((await me(other, body.access_token)).statusCode).toBe(200)
    const login = await loginAs(other, user.email)
    expect(login).toEqual({
      status: 503,
      body: { detail: 'Access tokens cannot be issued right now', code: 'service_unavailable' },
    })
    const ready = await other.app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toEqual({
      detail: 'No signing key available',
      code: 'service_unavailable',
    })
    expect(lines.join('\n')).toMatch(
      /cannot sign access tokens: the current signing key \S+ cannot sign \(.*\); was SECRET_KEY changed\?/,
    )
  })
})

describe('a database that holds no key and cannot take one (read-only)', () => {
  async function readOnlyDatabase(): Promise<Database> {
    const testDb = await freshDatabase()
    if (testDb.url === null) {
      // One PGlite instance is one session: the setting holds for every later transaction.
      await testDb.database.db.execute(sql`set default_transaction_read_only = on`)
      return testDb.database
    }
    const url = new URL(testDb.url)
    url.searchParams.set('options', '-c default_transaction_read_only=on')
    const database = await createDatabase({ databaseUrl: url.toString(), pglitePath: null })
    cleanups.push(() => database.close())
    return database
  }

  it('fails readiness, with one clear log line, and publishes nothing', async () => {
    const database = await readOnlyDatabase()
    const lines: string[] = []
    const readOnly = await instance(database, {}, { logLines: lines })
    const ready = await readOnly.app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toEqual({
      detail: 'No signing key available',
      code: 'service_unavailable',
    })
    const errors = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level >= 50)
    expect(errors[0]?.msg).toMatch(
      /^cannot sign access tokens: the database holds no signing key and creating one failed: .*read-only transaction/,
    )
    // The failed insert's parameters (a sealed private key) never reach the log.
    expect(lines.join('\n')).not.toMatch(/v1\.[A-Za-z0-9_-]{40}|params/)
    const jwks = await readOnly.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    expect(jwks.json()).toEqual({ keys: [] })
  })
})

describe('upgrading from HS256', () => {
  async function upgrade() {
    const { database } = await freshDatabase()
    const clock = createTestClock()
    const before = await instance(database, { JWT_ALGORITHM: 'HS256' }, { clock })
    const user = await makeUser(database.db, { password: PASSWORD })
    const { body: old } = await loginAs(before, user.email)
    expect(decodeProtectedHeader(old.access_token).alg).toBe('HS256')
    await before.close()
    clock.advance(60_000)
    const after = await instance(database, {}, { clock })
    return { database, clock, user, old, after }
  }

  const hs256 = (claims: Record<string, unknown>) =>
    forgeJwt({ alg: 'HS256', typ: 'at+jwt' }, claims, keysFor(TEST_SECRET).accessToken)

  it('keeps accepting access tokens signed before it, and their refresh tokens', async () => {
    const { old, after, user } = await upgrade()
    expect((await me(after, old.access_token)).json().id).toBe(user.id)
    const refreshed = await after.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: old.refresh_token },
    })
    expect(refreshed.statusCode).toBe(200)
    const next = refreshed.json().access_token
    expect(decodeProtectedHeader(next)).toMatchObject({ alg: 'ES256' })
    expect((await me(after, next)).statusCode).toBe(200)
  })

  it('refuses HS256 tokens issued after it, and all of them one access-token lifetime later', async () => {
    const { clock, after, user } = await upgrade()
    const now = Math.floor(clock.now().getTime() / 1000)
    const claims = {
      sub: user.id,
      role: 'user',
      jti: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
      iss: after.config.jwtIssuer,
      aud: after.config.jwtAudience,
    }
    // One made before the upgrade, by a version with a longer lifetime: valid for a day.
    const longLived = hs256({ ...claims, iat: now - 120, exp: now + 86_400 })
    expect((await me(after, longLived)).statusCode).toBe(200)
    // Whoever holds the HS256 key cannot mint new tokens any more.
    expect((await me(after, hs256({ ...claims, iat: now + 1, exp: now + 600 }))).statusCode).toBe(
      401,
    )
    clock.advance(after.config.accessTokenTtlMs)
    expect((await me(after, longLived)).statusCode).toBe(401)
  })

  it('opens that window once: a later start of another instance changes nothing', async () => {
    const { database, clock } = await upgrade()
    const rows = await storedKeys(database)
    await instance(database, {}, { clock })
    expect(await storedKeys(database)).toEqual(rows)
    expect(rows.filter((row) => row.hs256AcceptedUntil !== null)).toHaveLength(1)
  })
})

describe('HS256 is never checked against a public key', () => {
  it('refuses an HS256 token whose secret is the published key, during the upgrade window too', async () => {
    const { database } = await freshDatabase()
    const app = await instance(database)
    const user = await makeUser(database.db, { password: PASSWORD })
    const jwks = (await app.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    const now = Math.floor(app.clock.now().getTime() / 1000)
    const claims = { sub: user.id, role: 'admin', iat: now - 60, exp: now + 600, jti: 'x' }
    for (const jwk of jwks.keys) {
      for (const secret of [JSON.stringify(jwk), jwk.x, `${jwk.x}${jwk.y}`]) {
        const head = { alg: 'HS256', typ: 'at+jwt', kid: jwk.kid }
        const full = { ...claims, iss: app.config.jwtIssuer, aud: app.config.jwtAudience }
        expect((await me(app, forgeJwt(head, full, secret))).statusCode).toBe(401)
        const { kid: _, ...noKid } = head
        expect((await me(app, forgeJwt(noKid, full, secret))).statusCode).toBe(401)
      }
    }
    // The forger is sound: the HS256 key itself, before the upgrade, is accepted.
    const sound = forgeJwt(
      { alg: 'HS256', typ: 'at+jwt' },
      { ...claims, role: 'user', iss: app.config.jwtIssuer, aud: app.config.jwtAudience },
      keysFor(TEST_SECRET).accessToken,
    )
    expect((await me(app, sound)).statusCode).toBe(200)
  })
})
