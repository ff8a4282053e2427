import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliTarget, cli, kidOf, listed, logged, storedKeys } from '../helpers/cli-keys.js'

/**
 * `npm run cli -- keys …` as a child process on an embedded database of its own (this file
 * runs on the pglite project only; cli-keys-notify.test.ts runs it against a PostgreSQL
 * server while an instance of the API listens).
 */
let target: CliTarget

beforeAll(() => {
  target = { dataDir: mkdtempSync(join(tmpdir(), 'coffee-cli-keys-')), databaseUrl: null }
})
afterAll(() => rmSync(target.dataDir, { recursive: true, force: true }))

describe('npm run cli -- keys', { timeout: 180_000 }, () => {
  it('checks its arguments before opening a database', async () => {
    const [none, extra, noKid, unknown, help] = await Promise.all([
      cli(target, ['keys']),
      cli(target, ['keys', 'list', 'now']),
      cli(target, ['keys', 'revoke']),
      cli(target, ['keys', 'destroy']),
      cli(target, ['keys', '--help']),
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
    expect(existsSync(join(target.dataDir, 'pglite'))).toBe(false)
  })

  it('lists, rotates and revokes the keys of the embedded database', async () => {
    const empty = await cli(target, ['keys', 'list'])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain('(no keys yet: the API makes them when it first starts)')

    const first = await cli(target, ['keys', 'rotate'])
    expect(first.code).toBe(0)
    const made = await storedKeys(target)
    expect(first.stdout).toBe(
      `rotated: ${kidOf('current', made)} signs now, ${kidOf('next', made)} is next\n`,
    )
    const list = await cli(target, ['keys', 'list'])
    expect(listed(list.stdout)).toEqual([
      ['KID', 'ALG', 'STATE', 'CREATED', 'RETIRED', 'REVOKED'],
      ...Object.values(made)
        // Oldest first; these two were made together.
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.kid < b.kid ? -1 : 1))
        .map((row) => [row.kid, 'ES256', row.state, row.createdAt.toISOString(), '-', '-']),
    ])

    const current = kidOf('current', made)
    const revoked = await cli(target, ['keys', 'revoke', current])
    expect(revoked.code).toBe(0)
    const after = await storedKeys(target)
    expect(after[current]).toMatchObject({ state: 'revoked', privateKey: null })
    expect(kidOf('current', after)).toBe(kidOf('next', made))
    expect(revoked.stdout).toBe(
      `revoked: ${current} (was current); its tokens are refused from now on. ` +
        `${kidOf('current', after)} signs now, ${kidOf('next', after)} is next.\n`,
    )
    expect(logged(revoked.stderr)).toContainEqual(
      expect.objectContaining({ event: 'signing_key_revoked', kid: current }),
    )
  })
})
