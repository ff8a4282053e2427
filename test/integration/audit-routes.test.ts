import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEventType } from '../../src/core/audit-events.js'
import { encodeCursor } from '../../src/core/cursor.js'
import { newId } from '../../src/core/ids.js'
import type { AuditEventRow } from '../../src/db/schema.js'
import { createAuditEventsRepository } from '../../src/repositories/audit-events.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, type MadeUser, makeAdmin, makeUser } from '../helpers/factories.js'

// GET /audit-events and GET /users/me/security-events: newest first by keyset on (at, id),
// filters, `since` inclusive and `until` exclusive, cursors that survive new events.

let t: TestApp
let admin: MadeUser
let adminHeaders: { authorization: string }
beforeAll(async () => {
  t = await createTestApp()
  admin = await makeAdmin(t)
  adminHeaders = await authHeaders(t, admin)
})
afterAll(() => t.close())

const BASE = Date.parse('2026-06-01T12:00:00.000Z')
const TYPES: AuditEventType[] = ['login.succeeded', 'user.updated', 'logout']

/** Inserts an event through the repository, at a chosen instant. */
async function insertEvent(
  fields: Partial<AuditEventRow> & { at: Date; userId: string | null },
): Promise<AuditEventRow> {
  return createAuditEventsRepository(t.db).insert({
    id: newId(),
    type: 'user.updated',
    actorId: null,
    ip: '198.51.100.9',
    userAgent: 'Agent/1',
    requestId: `req-${newId()}`,
    details: {},
    ...fields,
  })
}

/**
 * 25 events about one new account: three types, two actors, a second apart except that
 * events come in pairs sharing a millisecond (ties, ordered by id).
 */
async function seedScope() {
  const userId = newId()
  const actors = [newId(), newId()]
  const rows: AuditEventRow[] = []
  for (let i = 0; i < 25; i++) {
    rows.push(
      await insertEvent({
        userId,
        actorId: actors[i % 2] ?? null,
        type: TYPES[i % 3],
        at: new Date(BASE + Math.floor(i / 2) * 1_000),
      }),
    )
  }
  // Newest first: at descending, then id descending.
  const expected = [...rows].sort(
    (a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : -1),
  )
  return { userId, actors, expected }
}

type Page = { items: { id: string }[]; next_cursor: string | null }

const list = (query: Record<string, string>, headers = adminHeaders, url = '/audit-events') =>
  t.app.inject({ method: 'GET', url, query, headers })

/** Follows next_cursor to the end; every page but the last is full. */
async function walk(query: Record<string, string>, limit: number, url?: string) {
  const ids: string[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 100; pages++) {
    const response = await list(
      { ...query, limit: String(limit), ...(cursor ? { cursor } : {}) },
      adminHeaders,
      url,
    )
    expect(response.statusCode).toBe(200)
    const page = response.json() as Page
    ids.push(...page.items.map((item) => item.id))
    cursor = page.next_cursor
    if (cursor === null) return ids
    expect(page.items).toHaveLength(limit)
  }
  throw new Error('more than 100 pages')
}

describe('GET /audit-events', () => {
  it('walks every event of a filter, newest first, ties by id, one page at a time', async () => {
    const { userId, expected } = await seedScope()
    expect(await walk({ user_id: userId }, 7)).toEqual(expected.map((row) => row.id))
    // Exactly full pages end with next_cursor null, not an empty page.
    expect(await walk({ user_id: userId }, 25)).toHaveLength(25)
  })

  it('returns the event object of the contract', async () => {
    const userId = newId()
    const row = await insertEvent({
      userId,
      actorId: admin.id,
      type: 'user.updated',
      at: new Date(BASE),
      details: { fields: ['role'] },
    })
    const response = await list({ user_id: userId })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.json()).toEqual({
      items: [
        {
          id: row.id,
          type: 'user.updated',
          at: '2026-06-01T12:00:00.000Z',
          actor_id: admin.id,
          user_id: userId,
          ip: '198.51.100.9',
          user_agent: 'Agent/1',
          request_id: row.requestId,
          details: { fields: ['role'] },
        },
      ],
      next_cursor: null,
    })
  })

  it('filters by type and actor, alone and combined with the account', async () => {
    const { userId, actors, expected } = await seedScope()
    const ofType = expected.filter((row) => row.type === 'logout')
    const byActor = expected.filter((row) => row.actorId === actors[1])
    expect(await walk({ user_id: userId, type: 'logout' }, 3)).toEqual(ofType.map((r) => r.id))
    expect(await walk({ actor_id: actors[1] as string }, 4)).toEqual(byActor.map((r) => r.id))
    const both = byActor.filter((row) => row.type === 'login.succeeded')
    // Actor 1 (odd i) on login.succeeded (i % 3 = 0): i = 3, 9, 15, 21.
    expect(both).toHaveLength(4)
    expect(
      await walk({ user_id: userId, actor_id: actors[1] as string, type: 'login.succeeded' }, 2),
    ).toEqual(both.map((r) => r.id))
  })

  it('since is inclusive, until exclusive, to the millisecond', async () => {
    const { userId, expected } = await seedScope()
    // Seconds 3 to 5 of the scope: events 6 to 11 (two per second).
    const since = new Date(BASE + 3_000).toISOString()
    const until = new Date(BASE + 6_000).toISOString()
    const inWindow = expected.filter(
      (row) => row.at.getTime() >= BASE + 3_000 && row.at.getTime() < BASE + 6_000,
    )
    expect(inWindow).toHaveLength(6)
    expect(await walk({ user_id: userId, since, until }, 4)).toEqual(inWindow.map((r) => r.id))
    // A window of one millisecond holds that millisecond's events.
    const one = new Date(BASE + 3_001).toISOString()
    expect(await walk({ user_id: userId, since, until: one }, 10)).toEqual(
      inWindow.filter((row) => row.at.getTime() === BASE + 3_000).map((r) => r.id),
    )
    expect(await walk({ user_id: userId, since: until, until: since }, 10)).toEqual([])
  })

  it('keeps its place while new events arrive: no event skipped or repeated', async () => {
    const { userId, expected } = await seedScope()
    const first = (await list({ user_id: userId, limit: '5' })).json() as Page
    expect(first.items.map((item) => item.id)).toEqual(expected.slice(0, 5).map((r) => r.id))

    // Meanwhile: newer events of the account, and some at the very millisecond of the page's end.
    const lastAt = expected[4]?.at as Date
    for (const at of [new Date(BASE + 60_000), new Date(BASE + 60_000), lastAt]) {
      await insertEvent({ userId, at })
    }
    const rest: string[] = []
    let cursor = first.next_cursor
    while (cursor !== null) {
      const page = (await list({ user_id: userId, limit: '5', cursor })).json() as Page
      rest.push(...page.items.map((item) => item.id))
      cursor = page.next_cursor
    }
    // The event inserted at the same millisecond has a greater id: it sorts before the
    // cursor, on the page already read, so the walk goes on exactly where it stopped.
    expect(rest).toEqual(expected.slice(5).map((r) => r.id))
  })

  it('refuses a cursor it did not make: 422 at ["query", "cursor"]', async () => {
    const token = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const valid = encodeCursor({ createdAt: '2026-06-01T12:00:00.000000Z', id: newId() })
    for (const cursor of [
      'abc$%',
      token(['2026-02-31T00:00:00.000000Z', newId()]),
      token(['2026-01-01T00:00:00.000Z', newId()]),
      valid.slice(0, -3),
    ]) {
      const response = await list({ cursor })
      expect(response.statusCode).toBe(422)
      expect(response.json()).toEqual({
        detail: [{ loc: ['query', 'cursor'], msg: 'Invalid cursor', type: 'value_error' }],
        code: 'validation_error',
      })
    }
    expect((await list({ cursor: valid })).statusCode).toBe(200)
  })

  it('refuses an unknown type, a malformed id or instant, and unknown parameters', async () => {
    const queries: Record<string, string>[] = [
      { type: 'user.exploded' },
      { user_id: 'not-a-ulid' },
      { since: 'yesterday' },
      { limit: '101' },
      { email: 'x@example.com' },
    ]
    for (const query of queries) {
      const response = await list(query)
      expect(response.statusCode, JSON.stringify(query)).toBe(422)
      expect(response.json().code).toBe('validation_error')
    }
  })

  it('is for admins only', async () => {
    const user = await makeUser(t)
    const forbidden = await list({}, await authHeaders(t, user))
    expect(forbidden.statusCode).toBe(403)
    expect(forbidden.json()).toEqual({ detail: 'Not enough permissions', code: 'forbidden' })
    const anonymous = await t.app.inject({ method: 'GET', url: '/audit-events' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.headers['www-authenticate']).toBe('Bearer')
  })
})

describe('GET /users/me/security-events', () => {
  it("shows the user's own events only, hiding an admin's address and browser", async () => {
    const user = await makeUser(t)
    const other = await makeUser(t)
    const own = await insertEvent({ userId: user.id, actorId: user.id, at: new Date(BASE) })
    const unproven = await insertEvent({
      userId: user.id,
      type: 'login.failed',
      at: new Date(BASE + 1_000),
      ip: '203.0.113.66',
    })
    const byAdmin = await insertEvent({
      userId: user.id,
      actorId: admin.id,
      at: new Date(BASE + 2_000),
    })
    await insertEvent({ userId: other.id, actorId: user.id, at: new Date(BASE + 3_000) })
    await insertEvent({ userId: null, actorId: user.id, at: new Date(BASE + 4_000) })

    const response = await t.app.inject({
      method: 'GET',
      url: '/users/me/security-events',
      headers: await authHeaders(t, user),
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    const page = response.json() as {
      items: { id: string; ip: string | null; user_agent: string | null }[]
      next_cursor: string | null
    }
    expect(page.items.map((item) => item.id)).toEqual([byAdmin.id, unproven.id, own.id])
    expect(page.items.map((item) => item.ip)).toEqual([null, '203.0.113.66', '198.51.100.9'])
    expect(page.items[0]?.user_agent).toBeNull()
    expect(page.next_cursor).toBeNull()
  })

  it('pages and filters like the admin route', async () => {
    const user = await makeUser(t)
    const rows: AuditEventRow[] = []
    for (let i = 0; i < 5; i++) {
      rows.push(await insertEvent({ userId: user.id, at: new Date(BASE + i * 1_000) }))
    }
    const headers = await authHeaders(t, user)
    const url = '/users/me/security-events'
    const first = await t.app.inject({ method: 'GET', url, query: { limit: '2' }, headers })
    const firstPage = first.json() as Page
    expect(firstPage.items.map((item) => item.id)).toEqual([rows[4]?.id, rows[3]?.id])
    const second = await t.app.inject({
      method: 'GET',
      url,
      query: { limit: '2', cursor: firstPage.next_cursor ?? '' },
      headers,
    })
    expect((second.json() as Page).items.map((item) => item.id)).toEqual([rows[2]?.id, rows[1]?.id])
    const since = new Date(BASE + 3_000).toISOString()
    const recent = await t.app.inject({ method: 'GET', url, query: { since }, headers })
    expect((recent.json() as Page).items.map((item) => item.id)).toEqual([rows[4]?.id, rows[3]?.id])
    // Nobody else's: the admin filters are not parameters here.
    const refused = await t.app.inject({
      method: 'GET',
      url,
      query: { user_id: admin.id },
      headers,
    })
    expect(refused.statusCode).toBe(422)
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401)
  })
})
