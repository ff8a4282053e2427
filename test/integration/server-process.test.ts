import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { freePort, type LogRecord, spawnLogged } from '../helpers/process.js'

/**
 * Black-box: the real entry point as a child process, on the database of this project
 * (its own PGlite data folder, or its own PostgreSQL database), driven with fetch.
 * E-mail goes to the log transport; the code is read from the log as a newcomer would.
 */
let testDb: TestDatabase | null = null
let server: ReturnType<typeof spawnLogged>
let base: string
const env: Record<string, string> = {}

async function startServer() {
  server = spawnLogged(process.execPath, ['--import', 'tsx', 'src/server.ts'], env)
  await server.waitForLog((record) => String(record.msg).startsWith('Coffee Shop API ready'))
}

async function stopServer() {
  server.child.kill('SIGTERM')
  return (await server.exited).code
}

beforeAll(async () => {
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  Object.assign(env, {
    NODE_ENV: 'development',
    BCRYPT_ROUNDS: '4',
    RUN_SCHEDULER: 'false',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(port),
    // No SECRET_KEY: the server generates one into DATA_DIR and must reuse it after a restart.
    SECRET_KEY: '',
    SMTP_URL: '',
    FIRST_ADMIN_EMAIL: '',
    FIRST_ADMIN_PASSWORD: '',
    DATABASE_URL: '',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'coffee-e2e-')),
  })
  if (process.env.TEST_DATABASE_URL) {
    testDb = await createTestDatabase()
    env.DATABASE_URL = testDb.url ?? ''
  }
  await startServer()
}, 120_000)

afterAll(async () => {
  await server?.kill()
  await testDb?.drop()
})

const call = (method: string, path: string, body?: unknown, token?: string) =>
  fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

async function codeFromLog(email: string): Promise<string> {
  const mailTo = (record: LogRecord) => (record.mail as { to?: string } | undefined)?.to === email
  const record = await server.waitForLog(mailTo, 10_000)
  const match = /^\s*(\d{6})\s*$/m.exec((record.mail as { text: string }).text)
  if (!match?.[1]) throw new Error(`no code in the logged e-mail to ${email}`)
  return match[1]
}

describe('the server entry point', () => {
  it('serves the whole sign-up flow, stops cleanly on SIGTERM, and keeps data and key across a restart', async () => {
    const email = `e2e-${Date.now()}@example.com`
    const password = 'a quiet espresso morning'

    const signup = await call('POST', '/auth/signup', { email, password, full_name: 'End To End' })
    expect(signup.status).toBe(201)
    expect(await signup.json()).toMatchObject({ email, is_verified: false, role: 'user' })

    const verify = await call('POST', '/auth/verify', { email, code: await codeFromLog(email) })
    expect(verify.status).toBe(200)
    expect(await verify.json()).toMatchObject({ email, is_verified: true })

    const login = await call('POST', '/auth/login', { email, password })
    expect(login.status).toBe(200)
    const tokens = (await login.json()) as { access_token: string; refresh_token: string }

    const me = await call('GET', '/users/me', undefined, tokens.access_token)
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ email, full_name: 'End To End' })

    const refresh = await call('POST', '/auth/refresh', { refresh_token: tokens.refresh_token })
    expect(refresh.status).toBe(200)
    const rotated = (await refresh.json()) as { refresh_token: string }
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token)

    // A second login, still open at the restart: its access token must outlive the restart.
    const stillOpen = (await (await call('POST', '/auth/login', { email, password })).json()) as {
      access_token: string
    }

    const logout = await call('POST', '/auth/logout', { refresh_token: rotated.refresh_token })
    expect(logout.status).toBe(204)
    const afterLogout = await call('POST', '/auth/refresh', {
      refresh_token: rotated.refresh_token,
    })
    expect(afterLogout.status).toBe(401)

    // Nothing secret in the log apart from the deliberate e-mail line.
    const logged = JSON.stringify(server.records.filter((record) => !record.mail))
    expect(logged).not.toContain(password)
    expect(logged).not.toContain(tokens.access_token)
    expect(logged).not.toContain(tokens.refresh_token)

    expect(await stopServer()).toBe(0)
    await expect(fetch(`${base}/health/live`)).rejects.toThrow()
    // The data folder (generated key, and the embedded database when there is one) is private.
    const modeOf = (path: string) => statSync(path).mode & 0o777
    expect(modeOf(env.DATA_DIR as string)).toBe(0o700)
    expect(modeOf(`${env.DATA_DIR}/secret_key`)).toBe(0o600)

    await startServer()
    // The logged-out session's access token stays refused; the open one still works.
    expect((await call('GET', '/users/me', undefined, tokens.access_token)).status).toBe(401)
    const again = await call('GET', '/users/me', undefined, stillOpen.access_token)
    expect(again.status).toBe(200)
    expect(((await again.json()) as { email: string }).email).toBe(email)
    expect((await call('POST', '/auth/login', { email, password })).status).toBe(200)
    expect(await stopServer()).toBe(0)
  })
})

describe('a first admin the API would refuse', () => {
  // Before the rules were shared, these passed the settings check and the service refused
  // them once the database was open: the process died with a stack trace.
  it.each([
    [
      'FIRST_ADMIN_EMAIL',
      { FIRST_ADMIN_EMAIL: 'ana@exa_mple.com', FIRST_ADMIN_PASSWORD: 'a quiet espresso morning' },
      'config error: FIRST_ADMIN_EMAIL: Not a valid e-mail address (got "ana@exa_mple.com")',
    ],
    [
      'FIRST_ADMIN_PASSWORD',
      { FIRST_ADMIN_EMAIL: 'ana@example.com', FIRST_ADMIN_PASSWORD: `long ${'e'.repeat(124)}` },
      'config error: FIRST_ADMIN_PASSWORD: Password must be 8 to 128 characters',
    ],
  ])(
    'stops the start with exit code 1 and one line naming %s',
    async (_name, admin, line) => {
      const start = spawnLogged(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        ...env,
        ...admin,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'coffee-bad-admin-')),
      })
      expect((await start.exited).code).toBe(1)
      expect(start.output).toEqual([line])
    },
    120_000,
  )
})
