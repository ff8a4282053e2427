import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { testServerUrl } from '../helpers/database.js'

const journal = JSON.parse(readFileSync('drizzle/meta/_journal.json', 'utf8')) as {
  entries: unknown[]
}
const migrationCount = journal.entries.length

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

describe('operations endpoints', () => {
  it('GET /health/live answers ok', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/live' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it('GET /health/ready runs a query against the database', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/ready' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it('serves an OpenAPI 3.1 document with the bearer scheme', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(response.statusCode).toBe(200)
    const document = response.json()
    expect(document.openapi).toBe('3.1.0')
    expect(document.paths['/health/ready'].get.responses).toHaveProperty('503')
    expect(document.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl).toBe(
      '/v1/auth/login',
    )
  })

  it('serves Swagger UI and ReDoc from installed packages, no CDN', async () => {
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' })
    expect(docs.statusCode).toBe(200)
    expect(docs.body).toContain('swagger-ui')
    expect(docs.body).not.toMatch(/https?:\/\/(?!localhost)[a-z]/i)
    const redoc = await t.app.inject({ method: 'GET', url: '/redoc' })
    expect(redoc.statusCode).toBe(200)
    expect(redoc.headers['content-security-policy']).toContain("img-src 'self' data:")
    expect(redoc.body).toContain('<script src="/redoc/redoc.standalone.js">')
    const bundle = await t.app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' })
    expect(bundle.statusCode).toBe(200)
    expect(bundle.body.length).toBeGreaterThan(100_000)
  })

  it('answers unknown routes with the contract error shape', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/no/such/route' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ detail: 'Not Found', code: 'not_found' })
  })

  it('echoes a sane x-request-id and replaces an unsafe one', async () => {
    const kept = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'abc-123' },
    })
    expect(kept.headers['x-request-id']).toBe('abc-123')
    const replaced = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'a b\u0001' },
    })
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('migrations', () => {
  it('are idempotent, and safe when two processes migrate at once', async () => {
    await runMigrations(t.database)
    if (testServerUrl === null || t.databaseUrl === null) {
      await expect(runMigrations(t.database)).resolves.toBeUndefined()
      return
    }
    const other = await createDatabase({ databaseUrl: t.databaseUrl, pglitePath: null })
    try {
      await Promise.all([
        runMigrations(t.database),
        runMigrations(other),
        runMigrations(t.database),
      ])
      const result = await other.pool?.query(
        'select count(*)::int as n from drizzle.__drizzle_migrations',
      )
      // Each migration recorded once, however many processes ran it.
      expect(result?.rows[0].n).toBe(migrationCount)
    } finally {
      await other.close()
    }
  })
})
