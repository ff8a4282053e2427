import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'

/**
 * Black-box: the real entry point as a child process, on the database of this project
 * (its own PGlite data folder, or its own PostgreSQL database), driven with fetch.
 * E-mail goes to the log transport; the code is read from the log like a newcomer would.
 */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

let testDb: TestDatabase | null = null
let child: ChildProcess
let base: string
let serverEnv: Record<string, string>
const logLines: Record<string, unknown>[] = []

/** Starts `src/server.ts` and waits until /health/ready answers. */
async function startServer(): Promise<void> {
  child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: serverEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let buffered = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      try {
        logLines.push(JSON.parse(line))
      } catch {
        // not a log line
      }
    }
  })
  const deadline = Date.now() + 45_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    try {
      if ((await fetch(`${base}/health/ready`)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error('server did not become ready')
}

async function stopServer(): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  child.kill('SIGTERM')
  return exited
}

beforeAll(async () => {
  serverEnv = {
    ...(process.env as Record<string, string>),
    NODE_ENV: 'development',
    BCRYPT_ROUNDS: '4',
    RUN_SCHEDULER: 'false',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    // No SECRET_KEY: the server generates one into DATA_DIR and must reuse it after a restart.
    DATA_DIR: mkdtempSync(join(tmpdir(), 'coffee-e2e-')),
  }
  for (const name of [
    'SMTP_URL',
    'SECRET_KEY',
    'DATABASE_URL',
    'FIRST_ADMIN_EMAIL',
    'FIRST_ADMIN_PASSWORD',
  ]) {
    delete serverEnv[name]
  }
  if (process.env.TEST_DATABASE_URL) {
    testDb = await createTestDatabase()
    serverEnv.DATABASE_URL = testDb.url ?? ''
  }
  const port = await freePort()
  serverEnv.PORT = String(port)
  base = `http://127.0.0.1:${port}`
  await startServer()
}, 60_000)

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL')
  await testDb?.drop()
})

const json = (method: string, path: string, body?: unknown, token?: string) =>
  fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })

async function codeFromLog(email: string): Promise<string> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    for (const line of logLines) {
      const mail = line.mail as { to?: string; text?: string } | undefined
      const match = mail?.to === email ? /^\s*(\d{6})\s*$/m.exec(mail.text ?? '') : null
      if (match?.[1]) return match[1]
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no code for ${email} in the log`)
}

describe('the server entry point', () => {
  it('serves the whole sign-up flow, then stops cleanly on SIGTERM', async () => {
    const email = `e2e-${Date.now()}@example.com`
    const password = 'a quiet espresso morning'

    const signup = await json('POST', '/auth/signup', { email, password, full_name: 'End To End' })
    expect(signup.status).toBe(201)
    expect(await signup.json()).toMatchObject({ email, is_verified: false, role: 'user' })

    const code = await codeFromLog(email)
    const verify = await json('POST', '/auth/verify', { email, code })
    expect(verify.status).toBe(200)
    expect(await verify.json()).toMatchObject({ email, is_verified: true })

    const login = await json('POST', '/auth/login', { email, password })
    expect(login.status).toBe(200)
    const tokens = (await login.json()) as { access_token: string; refresh_token: string }

    const me = await json('GET', '/users/me', undefined, tokens.access_token)
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ email, full_name: 'End To End' })

    const refresh = await json('POST', '/auth/refresh', { refresh_token: tokens.refresh_token })
    expect(refresh.status).toBe(200)
    const rotated = (await refresh.json()) as { refresh_token: string }
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token)

    const logout = await json('POST', '/auth/logout', { refresh_token: rotated.refresh_token })
    expect(logout.status).toBe(204)
    expect(
      (await json('POST', '/auth/refresh', { refresh_token: rotated.refresh_token })).status,
    ).toBe(401)

    // Nothing secret in the log apart from the deliberate e-mail line.
    const text = JSON.stringify(logLines.filter((line) => !line.mail))
    expect(text).not.toContain(password)
    expect(text).not.toContain(tokens.access_token)
    expect(text).not.toContain(tokens.refresh_token)

    expect(await stopServer()).toBe(0)
    await expect(fetch(`${base}/health/live`)).rejects.toThrow()

    // A restart keeps the data and the generated signing key.
    await startServer()
    const again = await json('GET', '/users/me', undefined, tokens.access_token)
    expect(again.status).toBe(200)
    expect(((await again.json()) as { email: string }).email).toBe(email)
    expect((await json('POST', '/auth/login', { email, password })).status).toBe(200)
    expect(await stopServer()).toBe(0)
  })
})
