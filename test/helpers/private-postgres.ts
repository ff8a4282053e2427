import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './process.js'

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')))
  if (!dir) throw new Error(`no PostgreSQL server binaries (initdb) under ${root}`)
  return dir
}

/**
 * A PostgreSQL server of the test's own, so it can be stopped and started without touching
 * the shared one other test files use. initdb refuses to run as root, so the server runs
 * as the `postgres` user through runuser: the tests must run as root (as CI does).
 */
export async function startPrivatePostgres() {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'The outage test runs its own PostgreSQL as the postgres user via runuser: run the tests as root (CI does).',
    )
  }
  const bin = postgresBinDir()
  const dir = mkdtempSync(join(tmpdir(), 'coffee-pg-'))
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  chownSync(dir, uid, gid)
  const data = join(dir, 'data')
  const port = await freePort()
  const asPostgres = (command: string, args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], {
      stdio: 'pipe',
    })
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const start = () =>
    asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start'])
  const stop = () => asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
  start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    /** Stops the server if running and removes its files. */
    destroy() {
      try {
        stop()
      } catch {}
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
