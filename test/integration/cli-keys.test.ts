import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createDatabase, type Database } from '../../src/db/client.js'
import { signingKeys } from '../../src/db/schema.js'
import { createInstance, TEST_SECRET, type TestInstance } from '../helpers/app.js'
import { PASSWORD } from '../helpers/auth-flow.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { makeUser } from '../helpers/factories.js'

/**
 * `npm run cli -- keys …` as a child process. On the PostgreSQL server an instance of the
 * API runs in this process on the same database, reloading its keys only once an hour:
 * what the CLI changes reaches it by NOTIFY, from another process. PGlite is one process,
 * so there the CLI works on an embedded database of its own.
 */
const onServer = process.env.TEST_DATABASE_URL !== undefined
let dataDir: string
let server: TestDatabase | null = null

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'coffee-cli-keys-'))
  if (onServer) server = await createTestDatabase()
}, 60_000)
afterAll(async () => {
  await server?.drop()
  rmSync(dataDir, { recursive: true, force: true })
})

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
          DATA_DIR: dataDir,
          SECRET_KEY: TEST_SECRET,
          ...(server?.url ? { DATABASE_URL: server.url } : {}),
          ...env,
        },
        timeout: 150_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** The keys as stored; the embedded database is opened only between two CLI runs. */
async function storedKeys() {
  const database: Database = server
    ? server.database
    : await createDatabase({ databaseUrl: null, pglitePath: join(dataDir, 'pglite') })
  try {
    const rows = await database.db.select().from(signingKeys)
    return Object.fromEntries(rows.map((row) => [row.kid, row] as const))
  } finally {
    if (!server) await database.close()
  }
}
const kidIn = (state: string, table: Awaited<ReturnType<typeof storedKeys>>) =>
  Object.values(table).find((row) => row.state === state)?.kid ?? ''

/** The rows of `keys list`: header first, then one per key. */
const listed = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => line.split(/\s{2,}/))

const logged = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))

const SLOW = { timeout: 180_000 }
const PUSHED_WITHIN = { timeout: 15_000, interval: 50 }

describe('npm run cli -- keys', SLOW, () => {
  it('checks its arguments before opening a database', async () => {
    const [none, extra, noKid, unknown, help] = await Promise.all([
      cli(['keys']),
      cli(['keys', 'list', 'now']),
      cli(['keys', 'revoke']),
      cli(['keys', 'destroy']),
      cli(['keys', '--help']),
    ])
    expect(none).toMatchObject({ code: 1, stdout: '' })
    expect(none.stderr).toContain(
      'error: keys needs list, rotate or revoke\nusage: npm run cli -- keys list',
    )
    expect(extra.stderr).toContain('error: unexpected argument for keys list: now')
    expect(noKid.stderr).toContain('error: keys revoke needs the KID to revoke')
    expect(unknown.stderr).toContain('error: unknown keys command: destroy')
    for (const run of [extra, noKid, unknown]) expect(run.code).toBe(1)
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('keys revoke KID    an emergency')
    expect(existsSync(join(dataDir, 'pglite'))).toBe(false)
  })

  it.runIf(!onServer)('lists, rotates and revokes the keys of the embedded database', async () => {
    const empty = await cli(['keys', 'list'])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain('(no keys yet: the API makes them when it first starts)')

    const first = await cli(['keys', 'rotate'])
    expect(first.code).toBe(0)
    const made = await storedKeys()
    expect(first.stdout).toBe(
      `rotated: ${kidIn('current', made)} signs now, ${kidIn('next', made)} is next\n`,
    )
    const list = await cli(['keys', 'list'])
    expect(listed(list.stdout)).toEqual([
      ['KID', 'ALG', 'STATE', 'CREATED', 'RETIRED', 'REVOKED'],
      ...Object.values(made)
        // Oldest first; these two were made together.
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.kid < b.kid ? -1 : 1))
        .map((row) => [row.kid, 'ES256', row.state, row.createdAt.toISOString(), '-', '-']),
    ])

    const current = kidIn('current', made)
    const revoked = await cli(['keys', 'revoke', current])
    expect(revoked.code).toBe(0)
    const after = await storedKeys()
    expect(after[current]).toMatchObject({ state: 'revoked', privateKey: null })
    expect(kidIn('current', after)).toBe(kidIn('next', made))
    expect(revoked.stdout).toBe(
      `revoked: ${current} (was current); its tokens are refused from now on. ` +
        `${kidIn('current', after)} signs now, ${kidIn('next', after)} is next.\n`,
    )
    expect(logged(revoked.stderr)).toContainEqual(
      expect.objectContaining({ event: 'signing_key_revoked', kid: current }),
    )
  })

  it.runIf(onServer)('reaches a running instance by NOTIFY, from another process', async () => {
    const database = server?.database as Database
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
      const before = await storedKeys()
      const oldKid = kidIn('current', before)
      expect(decodeProtectedHeader(token).kid).toBe(oldKid)

      const list = await cli(['keys', 'list'])
      expect(list.code).toBe(0)
      const [header, ...keyRows] = listed(list.stdout).map((row) => row.slice(0, 3).join(' '))
      expect(header).toBe('KID ALG STATE')
      expect(keyRows.sort()).toEqual(
        [`${oldKid} ES256 current`, `${kidIn('next', before)} ES256 next`].sort(),
      )

      const rotate = await cli(['keys', 'rotate'])
      expect(rotate.code).toBe(0)
      const rotated = await storedKeys()
      const newKid = kidIn('current', rotated)
      expect(newKid).toBe(kidIn('next', before))
      expect(rotate.stdout).toBe(
        `rotated: ${newKid} signs now, ${kidIn('next', rotated)} is next, ${oldKid} retired ` +
          '(valid until its tokens expire)\n',
      )
      expect(logged(rotate.stderr)).toContainEqual(
        expect.objectContaining({ event: 'signing_key_rotated', reason: 'manual' }),
      )
      await vi.waitFor(async () => {
        expect(decodeProtectedHeader(await login()).kid).toBe(newKid)
      }, PUSHED_WITHIN)
      expect(await me(token)).toBe(200)

      const revoke = await cli(['keys', 'revoke', oldKid])
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
        cli(['keys', 'revoke', oldKid]),
        cli(['keys', 'revoke', 'no-such-kid']),
        cli(['keys', 'rotate'], { SECRET_KEY: `${TEST_SECRET}-from-another-env-file` }),
        cli(['keys', 'list']),
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
      expect(kidIn('current', await storedKeys())).toBe(newKid)
    } finally {
      await api.close()
    }
  })
})
