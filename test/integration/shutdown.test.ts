import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET } from '../helpers/app.js'
import { PASSWORD } from '../helpers/factories.js'
import { parseMetrics } from '../helpers/metrics.js'
import { startPrivatePostgres } from '../helpers/private-postgres.js'
import { freePort, type LogRecord, spawnLogged } from '../helpers/process.js'
import { codeFrom, type SmtpInbox, startSmtpServer } from '../helpers/smtp.js'

/*
 * The real entry point as a child process, on a PostgreSQL server of the test's own in every
 * project: a fresh embedded database takes a minute to create on a busy machine.
 */
/** Each test starts a real server: tsx compiles the sources and migrations run first. */
const SPAWN_TIMEOUT_MS = 120_000
let inbox: SmtpInbox
let postgres: Awaited<ReturnType<typeof startPrivatePostgres>>
const dataDirs: string[] = []

beforeAll(async () => {
  inbox = await startSmtpServer()
  postgres = await startPrivatePostgres()
})
afterAll(async () => {
  postgres?.destroy()
  await inbox.close()
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

async function serverEnv(overrides: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'coffee-shutdown-'))
  dataDirs.push(dataDir)
  const port = await freePort()
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SECRET_KEY: TEST_SECRET,
    SMTP_URL: inbox.url,
    LOG_LEVEL: 'info',
    RUN_SCHEDULER: 'false',
    RATE_LIMIT_MAX: '0',
    NODE_ENV: 'test',
    DATABASE_URL: postgres.url,
    ...overrides,
  }
  return { env, base: `http://127.0.0.1:${port}` }
}

const isReady = (record: LogRecord) => String(record.msg).startsWith('Coffee Shop API ready')
const postJson = (url: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

describe('graceful shutdown', () => {
  it(
    'lets a request in flight finish on SIGTERM, then exits 0',
    async () => {
      const { env, base } = await serverEnv({ BCRYPT_ROUNDS: '12' })
      const server = spawnLogged(process.execPath, ['--import', 'tsx', 'src/server.ts'], env)
      try {
        await server.waitForLog(isReady)
        const email = 'in-flight@example.com'
        expect((await postJson(`${base}/auth/signup`, { email, password: PASSWORD })).status).toBe(
          201,
        )
        const code = codeFrom(await inbox.waitForMessage(email))
        expect((await postJson(`${base}/auth/verify`, { email, code })).status).toBe(200)

        const seen = server.records.length
        // bcrypt at cost 12 keeps this login busy well after the server has logged it.
        const inFlight = postJson(`${base}/auth/login`, { email, password: PASSWORD })
        await server.waitForLog(
          (record) =>
            server.records.indexOf(record) >= seen &&
            record.msg === 'incoming request' &&
            (record.req as { url?: string } | undefined)?.url === '/auth/login',
        )
        server.child.kill('SIGTERM')

        const response = await inFlight
        expect(response.status).toBe(200)
        // Told to close its keep-alive connection, which would otherwise hold the shutdown open.
        expect(response.headers.get('connection')).toBe('close')
        const body = (await response.json()) as Record<string, unknown>
        expect(body.token_type).toBe('bearer')
        expect(typeof body.access_token).toBe('string')
        expect(await server.exited).toEqual({ code: 0, signal: null })
        expect(server.records.some((record) => record.msg === 'stopped')).toBe(true)
        await expect(fetch(`${base}/health/live`)).rejects.toThrow()
      } finally {
        await server.kill()
      }
    },
    SPAWN_TIMEOUT_MS,
  )

  it(
    'gives up after SHUTDOWN_TIMEOUT when a request keeps the close from finishing, and exits 1',
    async () => {
      const { env } = await serverEnv({ SHUTDOWN_TIMEOUT: '1s' })
      const server = spawnLogged(process.execPath, ['--import', 'tsx', 'src/server.ts'], env)
      let client: Socket | undefined
      try {
        await server.waitForLog(isReady)
        // A client that sends its headers, then never the body it announced: its connection
        // is busy, so the close waits for it (Node's own limit: the 5-minute requestTimeout).
        client = connect(Number(env.PORT), '127.0.0.1')
        client.on('error', () => {})
        client.write(
          'POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
        )
        await server.waitForLog(
          (record) =>
            record.msg === 'incoming request' &&
            (record.req as { url?: string } | undefined)?.url === '/auth/login',
        )
        server.child.kill('SIGTERM')

        expect(await server.exited).toEqual({ code: 1, signal: null })
        const messages = server.records.map((record) => record.msg)
        expect(messages).toContain('shutting down: finishing in-flight requests')
        expect(
          server.records.find(
            (record) => record.msg === 'shutdown did not finish within SHUTDOWN_TIMEOUT: exiting',
          ),
        ).toMatchObject({ level: 50, timeoutMs: 1_000 })
        expect(messages).not.toContain('stopped')
      } finally {
        client?.destroy()
        await server.kill()
      }
    },
    SPAWN_TIMEOUT_MS,
  )

  it(
    'stops through `npm start`: SIGTERM to npm stops the server and npm exits 0',
    async () => {
      const { env, base } = await serverEnv()
      const npm = spawnLogged('npm', ['start', '--silent'], env)
      try {
        await npm.waitForLog(isReady)
        expect((await fetch(`${base}/health/live`)).status).toBe(200)
        npm.child.kill('SIGTERM')
        expect(await npm.exited).toEqual({ code: 0, signal: null })
        expect(npm.records.some((record) => record.msg === 'stopped')).toBe(true)
        await expect(fetch(`${base}/health/live`)).rejects.toThrow()
      } finally {
        await npm.kill()
      }
    },
    SPAWN_TIMEOUT_MS,
  )
})

describe('the in-process scheduler', () => {
  it(
    'counts its deletions in /metrics',
    async () => {
      const { env, base } = await serverEnv({
        RUN_SCHEDULER: 'true',
        UNVERIFIED_USER_TTL: '1s',
        CLEANUP_INTERVAL: '1s',
      })
      const server = spawnLogged(process.execPath, ['--import', 'tsx', 'src/server.ts'], env)
      try {
        await server.waitForLog(isReady)
        const email = 'never-verified@example.com'
        expect((await postJson(`${base}/auth/signup`, { email, password: PASSWORD })).status).toBe(
          201,
        )
        await server.waitForLog(
          (record) => typeof record.unverifiedUsers === 'number' && record.unverifiedUsers > 0,
        )
        const text = await (await fetch(`${base}/metrics`)).text()
        const deleted = parseMetrics(text).find(
          (s) => s.name === 'cleanup_deletions_total' && s.labels.kind === 'unverified_users',
        )
        expect(deleted?.value).toBe(1)
        server.child.kill('SIGTERM')
        expect(await server.exited).toEqual({ code: 0, signal: null })
      } finally {
        await server.kill()
      }
    },
    SPAWN_TIMEOUT_MS,
  )
})
