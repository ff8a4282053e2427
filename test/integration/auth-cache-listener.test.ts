import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { listenerName } from '../../src/db/client.js'
import { users } from '../../src/db/schema.js'
import { AUTH_CHANGES_CHANNEL } from '../../src/repositories/users.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, makeUser } from '../helpers/factories.js'
import { metricValue } from '../helpers/metrics.js'

// The auth cache's listening connection, cut as a network failure or an operator would cut
// it (PostgreSQL server only: PGlite has no connection to lose). While it is down, a
// change could not be heard, so no entry may be used; once it is back, entries are used again.

let t: TestApp
const logLines: string[] = []
beforeAll(async () => {
  t = await createTestApp(
    { LOG_LEVEL: 'warn' },
    { logDestination: { write: (line: string) => logLines.push(line) } },
  )
})
afterAll(() => t.close())

const lookups = async (outcome: string) => metricValue(t, 'auth_cache_lookups_total', { outcome })
const me = (headers: { authorization: string }) =>
  t.app.inject({ method: 'GET', url: '/users/me', headers })
/** The auth cache's listening connection, as pg_stat_activity names it. */
const IS_AUTH_LISTENER = sql`application_name = ${listenerName(AUTH_CHANGES_CHANNEL)} and datname = current_database()`

/** Entries are used again: within a few retries a request is a cache hit. */
async function expectHitsAgain(headers: { authorization: string }) {
  await expect
    .poll(
      async () => {
        const before = await lookups('hit')
        await me(headers)
        return (await lookups('hit')) - before
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBe(1)
}

it('uses no entry while its listening connection is down, and resumes once it listens again', async () => {
  const user = await makeUser(t)
  const headers = await authHeaders(t, user)
  expect((await me(headers)).statusCode).toBe(200)
  const hitsBefore = await lookups('hit')
  expect((await me(headers)).statusCode).toBe(200)
  expect(await lookups('hit')).toBe(hitsBefore + 1)

  const cut = (await t.db.execute(sql`
    select pg_terminate_backend(pid) as cut from pg_stat_activity
    where ${IS_AUTH_LISTENER}`)) as {
    rows: unknown[]
  }
  expect(cut.rows).toEqual([{ cut: true }])
  // Made while nobody listens: no notification will ever tell the cache.
  await t.db.update(users).set({ fullName: 'Changed Unheard' }).where(eq(users.id, user.id))
  await expect
    .poll(() => logLines.join('\n'))
    .toContain('not listening for user and session changes')
  const offBefore = await lookups('off')
  expect((await me(headers)).json()).toMatchObject({ full_name: 'Changed Unheard' })
  expect(await lookups('off')).toBe(offBefore + 1)

  // Listening again after the first retry (1 s): the entry read before the cut is gone.
  await expect
    .poll(() => listeners(), { timeout: 10_000, interval: 100 })
    .toEqual([{ listening: true }])
  expect((await me(headers)).json()).toMatchObject({ full_name: 'Changed Unheard' })
  // Entries are used again: a first read fills the cache, the next one hits.
  await expect
    .poll(
      async () => {
        const before = await lookups('hit')
        expect((await me(headers)).json()).toMatchObject({ full_name: 'Changed Unheard' })
        return (await lookups('hit')) - before
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBe(1)
  await t.db.update(users).set({ isActive: false }).where(eq(users.id, user.id))
  expect((await me(headers)).statusCode).toBe(401)
})

/** The auth cache's listening connection, once its LISTEN has run. */
const listeners = async () =>
  (
    (await t.db.execute(sql`
      select query in ('listen auth_changes', 'select 1') as listening from pg_stat_activity
      where ${IS_AUTH_LISTENER}`)) as {
      rows: unknown[]
    }
  ).rows

it('gives up a listening connection that stops answering, reading the database meanwhile', async () => {
  const user = await makeUser(t)
  const headers = await authHeaders(t, user)
  expect((await me(headers)).statusCode).toBe(200)
  const [pid] = await listenerPids()
  if (pid === undefined) throw new Error('the auth cache is not listening')
  // The backend frozen (as a hung network would leave it): round trips get no answer.
  process.kill(pid, 'SIGSTOP')
  try {
    await t.db.update(users).set({ fullName: 'Changed While Frozen' }).where(eq(users.id, user.id))
    expect((await me(headers)).json()).toMatchObject({ full_name: 'Changed While Frozen' })
    await expect.poll(() => logLines.join('\n')).toContain('database did not answer within 1000ms')
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  // A new listening connection replaced it, and entries are used again.
  await expect
    .poll(async () => (await listenerPids()).filter((other) => other !== pid), {
      timeout: 10_000,
      interval: 100,
    })
    .toHaveLength(1)
  await expectHitsAgain(headers)
})

/** The process ids of the backends serving the auth cache's listening connection. */
async function listenerPids(): Promise<number[]> {
  const result = (await t.db.execute(sql`
    select pid from pg_stat_activity
    where ${IS_AUTH_LISTENER}`)) as {
    rows: { pid: number }[]
  }
  return result.rows.map((row) => row.pid)
}
