import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig, resolveSecretKey } from '../../src/core/config.js'
import { readSecretKeyFile } from '../../src/core/private-files.js'
import { configProblems } from '../helpers/config.js'

describe('the secret key: configured, or kept in a private file (resolveSecretKey)', () => {
  const freshDataDir = () => join(mkdtempSync(join(tmpdir(), 'coffee-secret-')), 'data')
  /** The one problem a refused key file gives, as the process would print it. */
  const refusal = (dataDir: string) =>
    configProblems(() => resolveSecretKey(loadConfig({ DATA_DIR: dataDir })))
  const withKeyFile = (content: string, mode = 0o600) => {
    const dataDir = freshDataDir()
    mkdirSync(dataDir, { mode: 0o700 })
    writeFileSync(join(dataDir, 'secret_key'), content)
    chmodSync(join(dataDir, 'secret_key'), mode)
    return dataDir
  }

  it('creates the data folder private, the key file 0600', () => {
    const dataDir = freshDataDir()
    resolveSecretKey(loadConfig({ DATA_DIR: dataDir }))
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dataDir, 'secret_key')).mode & 0o777).toBe(0o600)
  })

  it('tightens an existing data folder that others could enter', () => {
    const dataDir = freshDataDir()
    mkdirSync(dataDir)
    chmodSync(dataDir, 0o755)
    resolveSecretKey(loadConfig({ DATA_DIR: dataDir }))
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
  })

  it('refuses a key file readable by others, naming the file and the fix', () => {
    const dataDir = withKeyFile('a'.repeat(64), 0o644)
    const file = join(dataDir, 'secret_key')
    expect(refusal(dataDir)).toEqual([
      `${file}: has mode 0644 (group or others have access); run chmod 600 ${file}, or delete it to have a new key generated (tokens and codes issued with the old one stop working)`,
    ])
  })

  it.each([
    ['too short', 'a'.repeat(63)],
    ['too long', 'a'.repeat(65)],
    ['not hex', 'z'.repeat(64)],
    ['empty', ''],
  ])('refuses a key file whose key is %s', (_label, content) => {
    const dataDir = withKeyFile(content)
    const problems = refusal(dataDir)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toBe(
      `${join(dataDir, 'secret_key')}: does not hold a key of 64 hex digits; delete it to have a new key generated (tokens and codes issued with the old one stop working)`,
    )
  })

  it('refuses a key file that is a symbolic link', () => {
    const dataDir = withKeyFile('a'.repeat(64))
    symlinkSync(join(dataDir, 'secret_key'), join(dataDir, 'link'))
    expect(readSecretKeyFile(join(dataDir, 'link'))).toEqual({
      problem: expect.stringContaining('link: is a symbolic link'),
    })
  })

  it("refuses a key file of another user (the uid it expects is the process's own)", () => {
    const dataDir = withKeyFile('a'.repeat(64))
    const file = join(dataDir, 'secret_key')
    const owner = statSync(file).uid
    expect(readSecretKeyFile(file, owner)).toEqual({ key: 'a'.repeat(64) })
    expect(readSecretKeyFile(file, owner + 1)).toEqual({
      problem: expect.stringContaining(`${file}: is owned by uid ${owner}, not by the user`),
    })
  })

  it('accepts a key file with a trailing newline (an editor added it)', () => {
    const dataDir = withKeyFile(`${'b'.repeat(64)}\n`)
    expect(resolveSecretKey(loadConfig({ DATA_DIR: dataDir })).secretKey).toBe('b'.repeat(64))
  })

  it('generates a key once in the data folder and reuses it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'coffee-secret-'))
    const first = resolveSecretKey(loadConfig({ DATA_DIR: dataDir }))
    const second = resolveSecretKey(loadConfig({ DATA_DIR: dataDir }))
    expect(first.secretKey).toMatch(/^[0-9a-f]{64}$/)
    expect(second.secretKey).toBe(first.secretKey)
    expect(readFileSync(join(dataDir, 'secret_key'), 'utf8')).toBe(first.secretKey)
    expect(statSync(join(dataDir, 'secret_key')).mode & 0o777).toBe(0o600)
  })

  it('keeps a configured key', () => {
    const key = 's'.repeat(40)
    expect(resolveSecretKey(loadConfig({ SECRET_KEY: key })).secretKey).toBe(key)
  })
})
