import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createInstance, TEST_SECRET, type TestInstance } from '../helpers/app.js'
import { PASSWORD } from '../helpers/auth-flow.js'
import { type CliTarget, cli, kidOf, listed, logged, storedKeys } from '../helpers/cli-keys.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { makeUser } from '../helpers/factories.js'

/**
 * `npm run cli -- keys …` as a child process on a PostgreSQL server's database, while an
 * instance of the API runs in this process on the same database, reloading its keys only
 * once an hour: what the CLI changes reaches it by NOTIFY, from another process. On the
 * postgres project only (PGlite is one process); cli-keys.test.ts covers the embedded case.
 */
let server: TestDatabase
let target: CliTarget

beforeAll(async () => {
  server = await createTestDatabase()
  target = { dataDir: mkdtempSync(join(tmpdir(), 'coffee-cli-keys-')), databaseUrl: server.url }
}, 60_000)
afterAll(async () => {
  await server.drop()
  rmSync(target.dataDir, { recursive: true, force: true })
})

const PUSHED_WITHIN = { timeout: 15_000, interval: 50 }

describe('npm run cli -- keys, beside a running instance', { timeout: 180_000 }, () => {
  it('reaches a running instance by NOTIFY, from another process', async () => {
    const database = server.database
    const api: TestInstance = await createInstance(database, { KEY_REFRESH_INTERVAL: '1h' })
    try {
      const user = await makeUser(database.db, { password: PASSWORD })
      const login = async () => {
        const response = await api.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: user.email, password: PASSWORD },
        })
        return response.json().access_token as string
      }
      const me = async (token: string) =>
        (
          await api.app.inject({
            method: 'GET',
            url: '/users/me',
            headers: { authorization: `Bearer ${token}` },
          })
        ).statusCode
      const token = await login()
      const before = await storedKeys(target)
      const oldKid = kidOf('current', before)
      expect(decodeProtectedHeader(token).kid).toBe(oldKid)

      const list = await cli(target, ['keys', 'list'])
      expect(list.code).toBe(0)
      const [header, ...keyRows] = listed(list.stdout).map((row) => row.slice(0, 3).join(' '))
      expect(header).toBe('KID ALG STATE')
      expect(keyRows.sort()).toEqual(
        [`${oldKid} ES256 current`, `${kidOf('next', before)} ES256 next`].sort(),
      )

      const rotate = await cli(target, ['keys', 'rotate'])
      expect(rotate.code).toBe(0)
      const rotated = await storedKeys(target)
      const newKid = kidOf('current', rotated)
      expect(newKid).toBe(kidOf('next', before))
      expect(rotate.stdout).toBe(
        `rotated: ${newKid} signs now, ${kidOf('next', rotated)} is next, ${oldKid} retired ` +
          '(valid until its tokens expire)\n',
      )
      expect(logged(rotate.stderr)).toContainEqual(
        expect.objectContaining({ event: 'signing_key_rotated', reason: 'manual' }),
      )
      await vi.waitFor(async () => {
        expect(decodeProtectedHeader(await login()).kid).toBe(newKid)
      }, PUSHED_WITHIN)
      expect(await me(token)).toBe(200)

      const revoke = await cli(target, ['keys', 'revoke', oldKid])
      expect(revoke.code).toBe(0)
      expect(revoke.stdout).toContain(`revoked: ${oldKid} (was retired)`)
      await vi.waitFor(
        () => expect(api.services.keyStore.jwks().keys.map((key) => key.kid)).not.toContain(oldKid),
        PUSHED_WITHIN,
      )
      expect(await me(token)).toBe(401)
      const jwks = await api.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
      expect(jwks.json().keys.map((key: { kid: string }) => key.kid)).not.toContain(oldKid)

      const [again, unknown, wrongSecret, listAfter] = await Promise.all([
        cli(target, ['keys', 'revoke', oldKid]),
        cli(target, ['keys', 'revoke', 'no-such-kid']),
        cli(target, ['keys', 'rotate'], { SECRET_KEY: `${TEST_SECRET}-from-another-env-file` }),
        cli(target, ['keys', 'list']),
      ])
      expect(again).toMatchObject({
        code: 0,
        stdout: `${oldKid} was already revoked: nothing changed\n`,
      })
      expect(unknown.code).toBe(1)
      expect(unknown.stderr).toContain('error: no signing key no-such-kid')
      expect(wrongSecret.code).toBe(1)
      expect(wrongSecret.stderr).toContain("this process's SECRET_KEY cannot open the current")
      expect(wrongSecret.stderr).toContain('keys rotate --reseal')
      const revokedRow = listed(listAfter.stdout).find((row) => row[0] === oldKid)
      expect(revokedRow?.[2]).toBe('revoked')
      expect(revokedRow?.[5]).toMatch(/^\d{4}-\d\d-\d\dT/)
      expect(kidOf('current', await storedKeys(target))).toBe(newKid)
    } finally {
      await api.close()
    }
  })
})
