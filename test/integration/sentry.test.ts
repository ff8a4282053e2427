import { createServer, type Server } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Api, composeApi } from '../../src/composition.js'
import { systemClock } from '../../src/core/clock.js'
import { loadConfig } from '../../src/core/config.js'
import { AppError } from '../../src/core/errors.js'
import { createErrorReporter, type ErrorReporter, scrubEvent } from '../../src/core/sentry.js'
import { TEST_SECRET } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'

/** A stand-in for Sentry's ingest endpoint on a real port: it keeps every envelope. */
let ingest: Server
const envelopes: string[] = []
let reporter: ErrorReporter | null
let testDb: TestDatabase
let api: Api
let app: Api['app']

const SECRETS = {
  password: 'my-Secret-passw0rd!',
  token: 'eyJhbGciOi.secret-access-token.sig',
  hash: '$2b$12$abcdefghijklmnopqrstuv',
  code: '493021',
}

beforeAll(async () => {
  ingest = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks)
      const gzip = request.headers['content-encoding'] === 'gzip'
      envelopes.push((gzip ? gunzipSync(body) : body).toString('utf8'))
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => ingest.listen(0, '127.0.0.1', resolve))
  const { port } = ingest.address() as { port: number }
  const config = loadConfig({
    SECRET_KEY: TEST_SECRET,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_MAX: '0',
    SENTRY_DSN: `http://publickey@127.0.0.1:${port}/1`,
  })
  testDb = await createTestDatabase()
  const logger = pino({ level: 'silent' })
  api = await composeApi({ config, logger, database: testDb.database, clock: systemClock })
  app = api.app
  reporter = api.errorReporter
  // Routes only this test has: one unexpected failure carrying secrets, one expected error.
  app.post('/test/boom', async () => {
    throw new Error(
      `Failed query: update users set password_hash = $1 where id = $2\nparams: ${SECRETS.hash},01JD0000000000000000000000`,
    )
  })
  app.post('/test/expected', async () => {
    throw new AppError(409, 'email_taken', 'Email already registered')
  })
  await app.ready()
})

afterAll(async () => {
  await api?.close()
  await testDb?.drop()
  await new Promise<void>((resolve) => ingest.close(() => resolve()))
})

describe('Sentry error reporting', () => {
  it('is not loaded without SENTRY_DSN', async () => {
    expect(await createErrorReporter({ sentryDsn: null, nodeEnv: 'test' })).toBeNull()
  })

  it('reports an unexpected error, with no password, token, hash or code in the event', async () => {
    expect(reporter).not.toBeNull()
    const expected = await app.inject({ method: 'POST', url: '/test/expected', payload: {} })
    expect(expected.statusCode).toBe(409)

    const response = await app.inject({
      method: 'POST',
      url: `/test/boom?code=${SECRETS.code}`,
      headers: { authorization: `Bearer ${SECRETS.token}`, cookie: `session=${SECRETS.token}` },
      payload: { email: 'ana@example.com', password: SECRETS.password, code: SECRETS.code },
    })
    expect(response.statusCode).toBe(500)
    expect(response.json()).toEqual({ detail: 'Internal Server Error', code: 'internal_error' })
    await reporter?.close(5_000)

    const events = envelopes.filter((envelope) => envelope.includes('"exception"'))
    expect(events).toHaveLength(1)
    // The 409 was not reported: the only event is the unexpected error.
    const envelope = events[0] as string
    const event = JSON.parse(envelope.split('\n')[2] as string)
    expect(event.exception.values[0].value).toMatch(/^Failed query: update users/)
    expect(event.tags).toMatchObject({ route: '/test/boom', method: 'POST' })
    expect(event.request).toBeUndefined()
    for (const secret of Object.values(SECRETS)) expect(envelope).not.toContain(secret)
  })
})

describe('scrubEvent', () => {
  it('drops bodies, cookies and query strings and filters sensitive keys', () => {
    const event = scrubEvent({
      request: {
        url: '/auth/login',
        data: { password: SECRETS.password },
        cookies: { session: SECRETS.token },
        query_string: `code=${SECRETS.code}`,
        headers: { Authorization: `Bearer ${SECRETS.token}`, 'user-agent': 'curl' },
      },
      extra: { refresh_token: SECRETS.token, nested: { new_password: SECRETS.password } },
      breadcrumbs: [{ message: `Authorization: Bearer ${SECRETS.token}` }],
      exception: { values: [{ type: 'Error', value: `Failed query\nparams: ${SECRETS.hash}` }] },
    })
    const text = JSON.stringify(event)
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret)
    expect(event.request).toEqual({
      url: '/auth/login',
      headers: { Authorization: '[Filtered]', 'user-agent': 'curl' },
    })
    expect(event.exception.values[0]?.value).toBe('Failed query\nparams: [Filtered]')
  })
})
