import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Api, composeApi } from '../../src/composition.js'
import { loadConfig } from '../../src/core/config.js'
import { createDatabase, type Database } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { createTestClock, TEST_SECRET } from '../helpers/app.js'
import { PASSWORD } from '../helpers/factories.js'
import { startPrivatePostgres } from '../helpers/private-postgres.js'
import { codeFrom, type SmtpInbox, startSmtpServer } from '../helpers/smtp.js'

/*
 * Runs the same scenario in every project: it always uses its own PostgreSQL server, which
 * it stops and starts, never the shared one.
 */
const UNAVAILABLE = {
  detail: 'Service temporarily unavailable, try again later',
  code: 'service_unavailable',
}

let server: Awaited<ReturnType<typeof startPrivatePostgres>>
let database: Database
let inbox: SmtpInbox
let api: Api
let app: Api['app']

beforeAll(async () => {
  server = await startPrivatePostgres()
  inbox = await startSmtpServer()
  database = await createDatabase({ databaseUrl: server.url, pglitePath: null })
  await runMigrations(database)
  const config = loadConfig({
    SECRET_KEY: TEST_SECRET,
    BCRYPT_ROUNDS: '4',
    RATE_LIMIT_MAX: '0',
    LOGIN_MAX_FAILURES: '0',
    LOG_LEVEL: 'silent',
    SMTP_URL: inbox.url,
    DATABASE_URL: server.url,
  })
  const logger = pino({ level: 'silent' })
  api = await composeApi({ config, logger, database, clock: createTestClock() })
  app = api.app
  await app.ready()
})

afterAll(async () => {
  await api?.close()
  await database?.close()
  await inbox?.close()
  server?.destroy()
})

const post = (url: string, payload: Record<string, unknown>, headers = {}) =>
  app.inject({ method: 'POST', url, payload, headers })

async function verifiedLogin(email: string) {
  expect((await post('/auth/signup', { email, password: PASSWORD })).statusCode).toBe(201)
  const code = codeFrom(await inbox.waitForMessage(email))
  expect((await post('/auth/verify', { email, code })).statusCode).toBe(200)
  const login = await post('/auth/login', { email, password: PASSWORD })
  expect(login.statusCode).toBe(200)
  return login.json() as { access_token: string; refresh_token: string }
}

describe('a PostgreSQL outage', () => {
  it('answers 503 while the database is down, and recovers by itself once it is back', async () => {
    const tokens = await verifiedLogin('before-outage@example.com')
    const bearer = { authorization: `Bearer ${tokens.access_token}` }
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)

    server.stop()
    try {
      const ready = await app.inject({ method: 'GET', url: '/health/ready' })
      expect(ready.statusCode).toBe(503)
      expect(ready.json()).toEqual({ detail: 'Database unavailable', code: 'service_unavailable' })
      const live = await app.inject({ method: 'GET', url: '/health/live' })
      expect(live.statusCode).toBe(200)
      expect(live.json()).toEqual({ status: 'ok' })

      const requests = [
        () => post('/auth/signup', { email: 'during@example.com', password: PASSWORD }),
        () => post('/auth/login', { email: 'before-outage@example.com', password: PASSWORD }),
        () => post('/auth/refresh', { refresh_token: tokens.refresh_token }),
        () => app.inject({ method: 'GET', url: '/users/me', headers: bearer }),
      ]
      for (const send of requests) {
        const response = await send()
        expect(response.statusCode).toBe(503)
        expect(response.json()).toEqual(UNAVAILABLE)
        expect(response.headers['retry-after']).toBe('5')
      }
    } finally {
      server.start()
    }

    const me = await app.inject({ method: 'GET', url: '/users/me', headers: bearer })
    expect(me.statusCode).toBe(200)
    expect(me.json().email).toBe('before-outage@example.com')
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)
    await verifiedLogin('after-outage@example.com')
  })
})
