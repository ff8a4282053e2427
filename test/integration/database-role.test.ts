import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'
import { createRepositories } from '../../src/repositories/index.js'
import { runCleanup } from '../../src/services/cleanup.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { login, postJson, refresh, signup } from '../helpers/auth-flow.js'
import { testServerUrl } from '../helpers/database.js'
import { authHeaders, makeAdmin, NEW_PASSWORD, uniqueEmail } from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

// docker-compose.yml runs the API and the worker as their own role, made by
// docker/postgres/app-role.sql (applied with psql, as the postgres image does at its first
// start), while the migrate job applies the migrations as the superuser. Here the same
// script, then the migrations, then the whole app on that role: every route and the
// cleanup work, and the role can change nothing but rows. Server only (vitest.config.ts).

const serverUrl = testServerUrl ?? 'postgres://postgres@127.0.0.1:5432/test'
const suffix = randomBytes(5).toString('hex')
const databaseName = `coffee_role_test_${suffix}`
const role = `coffee_app_${suffix}`
const password = randomBytes(12).toString('hex')

const urlFor = (user: string, secret?: string) => {
  const url = new URL(serverUrl)
  url.pathname = `/${databaseName}`
  url.username = user
  url.password = secret ?? ''
  return url.toString()
}

async function asSuperuser(statement: string) {
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

let t: TestApp
let appPool: pg.Pool

beforeAll(async () => {
  await asSuperuser(`create database ${databaseName}`)
  const ownerUrl = urlFor(new URL(serverUrl).username || 'postgres', new URL(serverUrl).password)
  await promisify(execFile)('psql', [
    '--no-psqlrc',
    '--quiet',
    `--dbname=${ownerUrl}`,
    `--set=app_role=${role}`,
    `--set=app_password=${password}`,
    '--file=docker/postgres/app-role.sql',
  ])
  // The migrate job: after the script, so the tables get the role's rights by default.
  const owner = await createDatabase({ databaseUrl: ownerUrl, pglitePath: null, poolMax: 1 })
  await runMigrations(owner)
  await owner.close()

  const database = await createDatabase({ databaseUrl: urlFor(role, password), pglitePath: null })
  const drop = async () => {
    await database.close()
    await asSuperuser(`drop database if exists ${databaseName} with (force)`)
    await asSuperuser(`drop role if exists ${role}`)
  }
  t = await createTestApp({}, { database: { database, url: urlFor(role, password), drop } })
  appPool = new pg.Pool({ connectionString: urlFor(role, password), max: 1 })
})
afterAll(async () => {
  await appPool?.end()
  await t?.close()
})

describe("the API's database role (docker-compose.yml)", () => {
  it('starts: with nothing pending, applying the migrations needs no DDL', async () => {
    await expect(runMigrations(t.database)).resolves.toBeUndefined()
  })

  it('serves sign-up to logout, password reset and admin work', async () => {
    const email = uniqueEmail()
    const { id, code } = await signup(t, email)
    expect((await postJson(t, '/auth/verify', { email, code })).statusCode).toBe(200)
    const tokens = await login(t, email)
    const next = await refresh(t, tokens.refresh_token)
    expect(next.statusCode).toBe(200)
    expect((await postJson(t, '/auth/password/forgot', { email })).statusCode).toBe(202)
    const resetCode = codeFrom(await t.inbox.waitForMessage(email, 2))
    const reset = await postJson(t, '/auth/password/reset', {
      email,
      code: resetCode,
      new_password: NEW_PASSWORD,
    })
    expect(reset.statusCode).toBe(204)

    const headers = await authHeaders(t, await makeAdmin(t))
    const list = await t.app.inject({ method: 'GET', url: '/users', headers })
    expect(list.statusCode).toBe(200)
    const patch = await t.app.inject({
      method: 'PATCH',
      url: `/users/${id}`,
      headers,
      payload: { full_name: 'Role Test', is_active: false },
    })
    expect(patch.statusCode).toBe(200)
    const deletion = await t.app.inject({ method: 'DELETE', url: `/users/${id}`, headers })
    expect(deletion.statusCode).toBe(204)
  })

  it('runs the cleanup (the worker)', async () => {
    const result = await runCleanup({
      repositories: createRepositories(t.db),
      config: t.config,
      clock: t.clock,
    })
    expect(result.interrupted).toBe(false)
  })

  it('is no superuser and may not create, alter or drop anything', async () => {
    const { rows } = await appPool.query(
      'select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user',
    )
    expect(rows).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false }])
    for (const statement of [
      'create table intruder (id int)',
      'create schema intruder',
      'alter table users add column intruder int',
      'drop table refresh_tokens',
      'delete from drizzle.__drizzle_migrations',
      `create role intruder_${suffix}`,
    ]) {
      await expect(appPool.query(statement), statement).rejects.toMatchObject({
        code: '42501', // insufficient_privilege
      })
    }
  })
})
