import { sql } from 'drizzle-orm'
import type { PgInsertValue } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCursor } from '../../src/core/cursor.js'
import { newId } from '../../src/core/ids.js'
import { hashPassword } from '../../src/core/security.js'
import { users } from '../../src/db/schema.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, makeAdmin } from '../helpers/factories.js'

/** What the test knows about each row, to compute the expected listing independently. */
interface Model {
  id: string
  /** created_at at microsecond precision, as fixed-width text: sorts like the instant. */
  at: string
  email: string
  fullName: string | null
  role: 'user' | 'admin'
  isVerified: boolean
  isActive: boolean
}

let t: TestApp
let headers: { authorization: string }
const model: Model[] = []

/** A deterministic shuffle, so ids within a created_at tie are not in insertion order. */
function shuffled<T>(items: T[]): T[] {
  const result = [...items]
  let seed = 42
  for (let i = result.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    const j = seed % (i + 1)
    ;[result[i], result[j]] = [result[j] as T, result[i] as T]
  }
  return result
}

function bulkModel(): Model[] {
  const ids = shuffled(Array.from({ length: 300 }, () => newId()))
  const rows = ids.map((id, i): Model => {
    // Three users per second: ties on created_at that only the id can order.
    const at = new Date(Date.UTC(2020, 0, 1) + Math.floor(i / 3) * 1_000).toISOString()
    return {
      id,
      at: `${at.slice(0, 23)}000Z`,
      email: i % 5 === 0 ? `zoe.${i}@list.example` : `member.${i}@list.example`,
      fullName: i % 4 === 0 ? `Zoe Walker ${i}` : i % 4 === 1 ? null : `Name ${i}`,
      role: i % 10 === 0 ? 'admin' : 'user',
      isVerified: i % 3 !== 1,
      isActive: i % 7 !== 0,
    }
  })
  const extra = (email: string, fullName: string | null, at: string): Model => ({
    id: newId(),
    at,
    email,
    fullName,
    role: 'user',
    isVerified: true,
    isActive: true,
  })
  return [
    ...rows,
    // LIKE metacharacters in q must match literally.
    extra('under_score@list.example', null, '2021-01-01T00:00:00.000000Z'),
    extra('underxscore@list.example', null, '2021-01-01T00:00:01.000000Z'),
    extra('arabica@list.example', '100% Arabica', '2021-01-01T00:00:02.000000Z'),
    extra('beans@list.example', '1000 Beans', '2021-01-01T00:00:03.000000Z'),
    // Same millisecond, different microseconds: a millisecond cursor would skip some.
    ...['123456', '123457', '123999', '123001'].map((micros, i) =>
      extra(`micro.${i}@list.example`, null, `2021-06-01T12:00:00.${micros}Z`),
    ),
  ]
}

beforeAll(async () => {
  t = await createTestApp()
  const admin = await makeAdmin(t)
  headers = await authHeaders(t, admin)
  // The factory admin is the newest row by far ('9' sorts after every year 2xxx).
  model.push({ ...admin, at: '9', fullName: null })
  const passwordHash = await hashPassword('bulk horse battery staple', 4)
  const bulk = bulkModel()
  model.push(...bulk)
  const values: PgInsertValue<typeof users>[] = bulk.map((row) => ({
    id: row.id,
    email: row.email,
    fullName: row.fullName,
    role: row.role,
    isVerified: row.isVerified,
    isActive: row.isActive,
    passwordHash,
    createdAt: sql`${row.at}::timestamptz`,
  }))
  await t.db.insert(users).values(values)
}, 120_000)
afterAll(() => t.close())

function expected(keep: (row: Model) => boolean): string[] {
  return model
    .filter(keep)
    .sort((a, b) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : a.at < b.at ? 1 : -1))
    .map((row) => row.id)
}

const startsWith = (q: string) => (row: Model) =>
  row.email.startsWith(q.toLowerCase()) ||
  (row.fullName?.toLowerCase().startsWith(q.toLowerCase()) ?? false)

async function list(query: Record<string, string>) {
  const url = `/users?${new URLSearchParams(query)}`
  return t.app.inject({ method: 'GET', url, headers })
}

/** Follows next_cursor to the end; every page but the last is full. */
async function walk(query: Record<string, string>, limit: number): Promise<string[]> {
  const ids: string[] = []
  let cursor: string | null = null
  do {
    const response = await list({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) })
    expect(response.statusCode).toBe(200)
    const page = response.json() as { items: { id: string }[]; next_cursor: string | null }
    cursor = page.next_cursor
    expect(page.items.length).toBe(cursor === null ? page.items.length : limit)
    expect(page.items.length).toBeLessThanOrEqual(limit)
    ids.push(...page.items.map((item) => item.id))
  } while (cursor !== null && ids.length <= model.length)
  return ids
}

describe('listing users a page at a time', () => {
  it.each([
    ['no filter', {}, 7, () => true],
    ['role=admin', { role: 'admin' }, 4, (r: Model) => r.role === 'admin'],
    ['is_verified=false', { is_verified: 'false' }, 13, (r: Model) => !r.isVerified],
    [
      'role=user&is_active=false',
      { role: 'user', is_active: 'false' },
      5,
      (r: Model) => r.role === 'user' && !r.isActive,
    ],
    ['q=ZOE (email or name prefix, any case)', { q: 'ZOE' }, 6, startsWith('zoe')],
    [
      'q=zoe&is_active=true&is_verified=true',
      { q: 'zoe', is_active: 'true', is_verified: 'true' },
      3,
      (r: Model) => startsWith('zoe')(r) && r.isActive && r.isVerified,
    ],
    ['microsecond ties, one per page', { q: 'micro.' }, 1, startsWith('micro.')],
  ])('walks %s: every user exactly once, newest first', async (_name, query, limit, keep) => {
    const want = expected(keep)
    expect(want.length).toBeGreaterThan(3)
    const got = await walk(query, limit)
    expect(got).toEqual(want)
    expect(new Set(got).size).toBe(got.length)
  })

  it('returns the whole result in one page with next_cursor null when it fits exactly', async () => {
    const want = expected((r) => r.role === 'admin')
    const response = await list({ role: 'admin', limit: String(want.length) })
    expect(response.statusCode).toBe(200)
    const page = response.json()
    expect(page.items.map((item: { id: string }) => item.id)).toEqual(want)
    expect(page.next_cursor).toBeNull()
  })

  it('takes LIKE metacharacters in q literally', async () => {
    const underscore = await list({ q: 'under_' })
    expect(underscore.json().items.map((i: { email: string }) => i.email)).toEqual([
      'under_score@list.example',
    ])
    const percent = await list({ q: '100%' })
    expect(percent.json().items.map((i: { full_name: string }) => i.full_name)).toEqual([
      '100% Arabica',
    ])
  })

  it('defaults to 20 users per page, each a full user object', async () => {
    const response = await list({})
    expect(response.statusCode).toBe(200)
    const page = response.json()
    expect(page.items).toHaveLength(20)
    expect(typeof page.next_cursor).toBe('string')
    const micro = model.find((row) => row.email === 'micro.1@list.example') as Model
    expect(page.items).toContainEqual({
      id: micro.id,
      email: micro.email,
      full_name: null,
      role: 'user',
      is_verified: true,
      is_active: true,
      mfa_enabled: false,
      created_at: '2021-06-01T12:00:00.123Z',
      updated_at: expect.any(String),
    })
  })

  it.each([
    ['limit=0', { limit: '0' }, ['query', 'limit']],
    ['limit=101', { limit: '101' }, ['query', 'limit']],
    ['limit=ten', { limit: 'ten' }, ['query', 'limit']],
    ['role=owner', { role: 'owner' }, ['query', 'role']],
    ['is_active=maybe', { is_active: 'maybe' }, ['query', 'is_active']],
    ['an unknown parameter', { sort: 'email' }, ['query', 'sort']],
  ])('rejects %s with 422', async (_name, query, loc) => {
    const response = await list(query)
    expect(response.statusCode).toBe(422)
    const body = response.json()
    expect(body.code).toBe('validation_error')
    expect(body.detail.map((issue: { loc: unknown }) => issue.loc)).toEqual([loc])
  })
})

describe('continuing a list from its cursor', () => {
  const token = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const LARGEST_ID = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ'
  const valid = encodeCursor({ createdAt: '2020-01-01T00:00:30.000000Z', id: LARGEST_ID })

  it.each([
    ['not base64url', 'abc$%'],
    ['base64 of junk', Buffer.from('hello').toString('base64url')],
    ['a JSON object', token({ createdAt: '2020-01-01T00:00:00.000000Z', id: newId() })],
    ['a bad id', token(['2020-01-01T00:00:00.000000Z', 'not-a-ulid'])],
    ['February 31st', token(['2026-02-31T00:00:00.000000Z', newId()])],
    ['millisecond precision', token(['2026-01-01T00:00:00.000Z', newId()])],
    ['a truncated cursor', valid.slice(0, -3)],
    ['extra fields', token(['2020-01-01T00:00:00.000000Z', newId(), 1])],
  ])('is 422 for %s, never a 500', async (_name, cursor) => {
    const response = await list({ cursor })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [{ loc: ['query', 'cursor'], msg: 'Invalid cursor', type: 'value_error' }],
      code: 'validation_error',
    })
  })

  it('accepts a well-formed cursor and continues after it, ties ordered by id', async () => {
    const response = await list({ cursor: valid, limit: '100' })
    expect(response.statusCode).toBe(200)
    const ids = response.json().items.map((item: { id: string }) => item.id)
    // Every id is below the largest ULID, so the three users created at :30 come first.
    const after = expected((r) => r.at <= '2020-01-01T00:00:30.000000Z')
    expect(after.length).toBe(93)
    expect(ids).toEqual(after)
  })
})
