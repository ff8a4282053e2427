import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDatabase } from '../../src/db/client.js'
import { spawnLogged } from '../helpers/process.js'

/**
 * The embedded database's folder holds e-mails and password hashes: opened for real on
 * disk (PGlite), then every mode is read back.
 */
const freshDataDir = () => join(mkdtempSync(join(tmpdir(), 'coffee-data-')), 'data')
const modeOf = (path: string) => statSync(path).mode & 0o777

/** Every entry under `path` whose mode lets group or others in, with that mode. */
function openToOthers(path: string): string[] {
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isSymbolicLink())
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => (modeOf(file) & 0o077) !== 0)
    .map((file) => `${file} ${modeOf(file).toString(8)}`)
}

async function openAndClose(dataDir: string, check?: () => void) {
  const database = await createDatabase({ databaseUrl: null, pglitePath: join(dataDir, 'pglite') })
  try {
    await database.ping(10_000)
    check?.()
  } finally {
    await database.close()
  }
}

describe('the embedded database on disk', () => {
  // One database for the file: creating one on disk takes seconds (initdb).
  const dataDir = freshDataDir()
  let lockFileMode = 0
  beforeAll(async () => {
    await openAndClose(dataDir, () => {
      lockFileMode = modeOf(join(dataDir, 'pglite.pid'))
    })
  }, 180_000)

  it('starts in a fresh data folder that only its owner can enter, with private files', () => {
    expect(lockFileMode).toBe(0o600)
    expect(modeOf(dataDir)).toBe(0o700)
    expect(modeOf(join(dataDir, 'pglite'))).toBe(0o700)
    const entries = readdirSync(join(dataDir, 'pglite'), { recursive: true })
    expect(entries.length).toBeGreaterThan(100)
    expect(openToOthers(dataDir)).toEqual([])
  })

  it('runs with 16 MB of shared buffers, keeping the rest of the settings initdb wrote', async () => {
    const settings: Record<string, unknown>[] = []
    const database = await createDatabase({
      databaseUrl: null,
      pglitePath: join(dataDir, 'pglite'),
    })
    try {
      for (const name of ['shared_buffers', 'timezone', 'max_wal_size']) {
        const result = await database.db.execute(sql.raw(`show ${name}`))
        settings.push(...(result as unknown as { rows: Record<string, unknown>[] }).rows)
      }
    } finally {
      await database.close()
    }
    expect(settings).toEqual([
      { shared_buffers: '16MB' },
      { TimeZone: 'UTC' },
      { max_wal_size: '1GB' },
    ])
  }, 180_000)

  it('tightens a data folder left world-readable by an earlier version', async () => {
    // As the earlier version left it: 0755 folders, 0666 files.
    for (const entry of readdirSync(dataDir, { recursive: true, withFileTypes: true })) {
      chmodSync(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o666)
    }
    chmodSync(dataDir, 0o755)
    expect(openToOthers(dataDir).length).toBeGreaterThan(100)

    await openAndClose(dataDir)
    expect(modeOf(dataDir)).toBe(0o700)
    expect(openToOthers(dataDir)).toEqual([])
  }, 180_000)
})

describe('a bad secret_key file', () => {
  it('stops the server at start with one line naming the file and the fix', async () => {
    const dataDir = freshDataDir()
    mkdirSync(dataDir, { mode: 0o700 })
    const file = join(dataDir, 'secret_key')
    writeFileSync(file, 'c'.repeat(64))
    chmodSync(file, 0o644)
    const server = spawnLogged(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      NODE_ENV: 'development',
      SECRET_KEY: '',
      DATABASE_URL: '',
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
    })
    // 'close' comes after the last line of output has been read, unlike 'exit'.
    const closed = new Promise((resolve) => server.child.once('close', resolve))
    const { code } = await server.exited
    await closed
    expect(code).toBe(1)
    expect(server.records).toEqual([])
    expect(server.output).toEqual([
      `config error: ${file}: has mode 0644 (group or others have access); run chmod 600 ${file}, or delete it to have a new key generated (tokens and codes issued with the old one stop working)`,
    ])
  }, 60_000)
})
